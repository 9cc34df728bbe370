"""Alert e-mail through a real SMTP server (aiosmtpd on a free port): the admin's settings
page and its test button, one mail per new alert in Vietnamese then English, a storm
as one digest under an hourly limit, and a server that cannot be reached."""
from __future__ import annotations

import email
import email.policy
import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from flask import Flask
from sqlalchemy import select

from hub import db as hubdb
from hub.broker import free_port
from hub.models import Alert, AuditLog, Counter, HubSetting
from hub.ops import mail
from tests.ops_fixtures import *  # noqa: F403
from tests.ops_fixtures import flashes

SMTP_USER, SMTP_PASSWORD = "tem-alerts", "smtp-test-password"


class Inbox:
    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode() \
        and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # False: the server answers 535 itself


class Server:
    """aiosmtpd on a fixed free port; `stop` and `start` again play a server that goes away and comes back."""

    def __init__(self) -> None:
        self.inbox, self.port = Inbox(), free_port()
        self.ctl: Controller | None = None

    def start(self) -> None:
        self.ctl = Controller(self.inbox, hostname="127.0.0.1", port=self.port, authenticator=_authenticator,
                              auth_require_tls=False)
        self.ctl.start()

    def stop(self) -> None:
        if self.ctl:
            self.ctl.stop()
            self.ctl = None


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, Server]]:
    server = Server()
    server.start()
    yield server.inbox, server
    server.stop()


def _body(msg: EmailMessage) -> str:
    return msg.get_content()  # type: ignore[no-any-return]


def _settings_form(port: int, **over: str) -> dict[str, str]:
    return {"host": "127.0.0.1", "port": str(port), "sender": "tem@hub.example.vn",
            "recipients": "ops@example.vn\nchicuc@example.vn", "username": SMTP_USER, **over}


def test_the_admin_sets_up_smtp_and_the_test_mail_arrives(ops_app: Flask, console, smtp) -> None:  # type: ignore[no-untyped-def]
    inbox, ctl = smtp
    admin = console("admin", lang="vi")
    r = admin.post("/ops/settings", _settings_form(ctl.port, password=SMTP_PASSWORD))
    assert r.status_code == 302 and flashes(admin.get("/ops/settings")) == ["Đã lưu cài đặt thư báo cảnh báo."]
    secret = Path(ops_app.instance_path) / mail.PASSWORD_FILE
    assert secret.read_text() == SMTP_PASSWORD and stat.S_IMODE(secret.stat().st_mode) == 0o600
    with ops_app.app_context():
        from hub.app import db
        stored = db().get(HubSetting, "smtp").value
        assert SMTP_PASSWORD not in str(stored) and stored["recipients"] == ["ops@example.vn", "chicuc@example.vn"]
        assert db().scalars(select(AuditLog).where(AuditLog.target_type == "setting")).first() is not None
    page = admin.get("/ops/settings").get_data(as_text=True)
    assert 'value="tem@hub.example.vn"' in page and SMTP_PASSWORD not in page

    r = admin.post("/ops/settings/test-mail")
    assert flashes(admin.get("/ops/settings")) == ["Đã gửi thư thử tới ops@example.vn, chicuc@example.vn."]
    assert len(inbox.mails) == 1
    msg = inbox.mails[0]
    assert msg["Subject"] == "[Tem] Thư thử / Test e-mail" and msg["From"] == "tem@hub.example.vn"
    assert inbox.envelopes[0] == ("tem@hub.example.vn", ["ops@example.vn", "chicuc@example.vn"])
    body = _body(msg)
    assert body.index("Thư thử từ máy chủ Tem, do admin gửi") < body.index("A test e-mail from the Tem hub")


def test_a_wrong_password_or_an_unreachable_server_is_a_clear_message(ops_app: Flask, console, smtp) -> None:  # type: ignore[no-untyped-def]
    inbox, ctl = smtp
    admin = console("admin", lang="en")
    admin.post("/ops/settings", _settings_form(ctl.port, password="wrong"))
    admin.post("/ops/settings/test-mail")
    msg = flashes(admin.get("/ops/settings"))[-1]
    assert msg.startswith("The test e-mail was not sent:") and "refused" in msg and "535" in msg
    admin.post("/ops/settings", _settings_form(free_port(), password=SMTP_PASSWORD))
    r = admin.post("/ops/settings/test-mail")
    assert r.status_code == 302
    msg = flashes(admin.get("/ops/settings"))[-1]
    assert msg.startswith("The test e-mail was not sent:") and "cannot reach the SMTP server 127.0.0.1" in msg
    assert inbox.mails == []


@pytest.mark.parametrize("field,value,words", [
    ("sender", "not-an-address", "not an e-mail address"),
    ("recipients", "ops@example.vn, nobody", "recipients must be e-mail addresses: nobody"),
    ("port", "70000", "the port must be 1-65535"),
    ("host", "smtp host; rm -rf", "not a valid SMTP host name"),
])
def test_bad_settings_are_refused_and_change_nothing(ops_app: Flask, console, field, value, words) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin", lang="en")
    admin.post("/ops/settings", _settings_form(2525, password=SMTP_PASSWORD))
    admin.get("/ops/settings")
    admin.post("/ops/settings", {**_settings_form(2626), field: value})
    msg = flashes(admin.get("/ops/settings"))[-1]
    assert words in msg
    with ops_app.app_context():
        from hub.app import db
        assert db().get(HubSetting, "smtp").value["port"] == 2525


def test_only_an_admin_sees_the_settings(ops_app: Flask, console) -> None:  # type: ignore[no-untyped-def]
    for who in ("mgr_a", "inspector"):
        c = console(who)
        assert c.get("/ops/settings").status_code == 403
        assert c.post("/ops/settings", {"host": ""}).status_code == 403
        assert c.post("/ops/settings/test-mail").status_code == 403
    assert 'href="/ops/settings"' in console("admin").get("/ops/").get_data(as_text=True)


def _configure(sessions, port: int) -> mail.SmtpSettings:  # type: ignore[no-untyped-def]
    settings = mail.SmtpSettings("127.0.0.1", port, "tem@hub.example.vn", ("ops@example.vn",), False, SMTP_USER)
    with sessions() as s, s.begin():
        mail.save(s, settings, "admin")
    return settings


def _raise(sessions, n: int, kind: str = "paper_out") -> None:  # type: ignore[no-untyped-def]
    with sessions() as s, s.begin():
        for i in range(n):
            s.add(Alert(kind=kind, station_id=f"pr-{i}", message=f"printer of station pr-{i} is out of paper"))


def test_each_new_alert_is_mailed_once_and_a_storm_is_one_digest(db_url: str, smtp, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, ctl = smtp
    monkeypatch.setenv(mail.PASSWORD_ENV, SMTP_PASSWORD)
    engine = hubdb.make_engine(db_url)
    sessions = hubdb.sessions(engine)
    try:
        _raise(sessions, 1)  # before mail was set up: not mailed
        _configure(sessions, ctl.port)
        mailer = mail.Mailer(sessions, tmp_path, per_hour=4)
        assert mailer.notify() == 0 and inbox.mails == []
        _raise(sessions, 1, "suspected_clone")
        _raise(sessions, 1)
        assert mailer.notify() == 2 and mailer.notify() == 0
        first, second = inbox.mails
        assert first["Subject"] == "[Tem] Nghi tem bị sao chép / Suspected cloned stamp – pr-0"
        body = _body(second)
        assert body.index("Máy in hết giấy") < body.index("-- English --") < body.index("Printer out of paper")
        assert "Trạm: pr-0" in body and "Station: pr-0" in body and "(UTC+7)" in body

        _raise(sessions, 120)  # a storm: one digest, not 120 mails
        assert mailer.notify() == 1
        digest = inbox.mails[-1]
        assert digest["Subject"] == "[Tem] 120 cảnh báo mới / 120 new alerts"
        assert "… và 70 cảnh báo khác." in _body(digest) and "… and 70 more." in _body(digest)
        assert _body(digest).count("pr-49: printer of station pr-49 is out of paper") == 2

        ctl.stop()  # the server is down: nothing is marked sent
        _raise(sessions, 1, "codes_low")
        with pytest.raises(mail.MailError, match="cannot reach the SMTP server"):
            mailer.notify()
        ctl.start()
        assert mailer.notify() == 1 and inbox.mails[-1]["Subject"].startswith("[Tem] Trạm sắp hết mã tem")

        _raise(sessions, 1)  # four mails this hour: the fifth waits
        assert mailer.notify() == 0 and len(inbox.mails) == 4
        mailer.sent.clear()  # an hour later
        assert mailer.notify() == 1 and len(inbox.mails) == 5

        with sessions() as s, s.begin():  # mail turned off, then on again: what happened meanwhile is not mailed
            mail.save(s, mail.SmtpSettings(), "admin")
        with sessions() as s:
            assert s.get(Counter, mail.CURSOR) is None
        _raise(sessions, 2)
        assert mailer.notify() == 0
        _configure(sessions, ctl.port)
        assert mailer.notify() == 0 and len(inbox.mails) == 5
    finally:
        engine.dispose()
