"""Alert e-mail through the operator's SMTP server (standard library smtplib/email).

The server, sender and recipients are a console setting (table hub_setting, edited by an
admin on /ops/settings); the password is never stored there: it comes from
TEM_SMTP_PASSWORD or the instance directory (smtp-password.secret, 0600).

One mail per new alert, Vietnamese first and English below. An alert storm does not
become hundreds of mails: more than MAIL_SINGLE new alerts in one pass go out as one
digest, and at most MAIL_PER_HOUR mails leave in any hour; what waits goes out in the
next digest. The id of the last alert mailed is a row of the counter table, taken under
a row lock, so several web processes do not mail the same alert twice."""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import smtplib
import ssl
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.alertkinds import KINDS_EN, KINDS_VI
from hub.models import Alert, Counter, HubSetting, aware, utcnow

log = logging.getLogger(__name__)
SETTING = "smtp"
PASSWORD_ENV = "TEM_SMTP_PASSWORD"
PASSWORD_FILE = "smtp-password.secret"
CURSOR = "alert_mail"  # counter row: id of the last alert mailed
MAIL_SINGLE = 3  # up to this many new alerts in one pass get a mail each; more make one digest
MAIL_PER_HOUR = 12
DIGEST_LIST = 50  # alerts listed in a digest; the rest are counted
TIMEOUT_S = 10
VN = dt.timezone(dt.timedelta(hours=7))
ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")

class MailError(Exception):
    """The SMTP server could not be reached or refused; str() says why, for the console."""


class Invalid(ValueError):
    """A settings form that cannot be saved; str() is the message (Vietnamese / English)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    sender: str = ""
    recipients: tuple[str, ...] = ()
    starttls: bool = True
    username: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.host and self.sender and self.recipients)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "recipients": list(self.recipients)}


def load(s: Session) -> SmtpSettings:
    row = s.get(HubSetting, SETTING)
    if row is None:
        return SmtpSettings()
    v = row.value
    return SmtpSettings(host=v.get("host", ""), port=int(v.get("port", 587)), sender=v.get("sender", ""),
                        recipients=tuple(v.get("recipients", ())), starttls=bool(v.get("starttls", True)),
                        username=v.get("username", ""))


def parse_form(form: Mapping[str, Any]) -> SmtpSettings:
    """Settings from the console form; raises Invalid with a clear message. An empty host turns mail off."""
    host = str(form.get("host") or "").strip()
    if not host:
        return SmtpSettings()
    if not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]{1,253}", host):
        raise Invalid("Máy chủ SMTP không hợp lệ / not a valid SMTP host name")
    try:
        port = int(str(form.get("port") or "587"))
        if not 1 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise Invalid("Cổng phải từ 1 đến 65535 / the port must be 1-65535") from None
    sender = str(form.get("sender") or "").strip()
    if not ADDRESS.match(sender):
        raise Invalid(f"Địa chỉ gửi không hợp lệ / not an e-mail address: {sender!r}")
    recipients = tuple(r for r in re.split(r"[\s,;]+", str(form.get("recipients") or "")) if r)
    bad = [r for r in recipients if not ADDRESS.match(r)]
    if bad or not recipients:
        raise Invalid("Người nhận phải là địa chỉ e-mail / recipients must be e-mail addresses"
                      + (f": {', '.join(bad)}" if bad else ""))
    if len(recipients) > 20:
        raise Invalid("Tối đa 20 người nhận / at most 20 recipients")
    username = str(form.get("username") or "").strip()[:200]
    return SmtpSettings(host, port, sender, recipients, bool(form.get("starttls")), username)


def save(s: Session, settings: SmtpSettings, who: str) -> None:
    row = s.get(HubSetting, SETTING)
    if row is None:
        row = HubSetting(name=SETTING, value={})
        s.add(row)
    row.value, row.updated_at, row.updated_by = settings.as_json(), utcnow(), who
    cursor = s.get(Counter, CURSOR, with_for_update=True)
    if not settings.enabled and cursor is not None:
        s.delete(cursor)
    elif settings.enabled and cursor is None:  # alerts from now on are mailed, not the backlog
        s.add(Counter(name=CURSOR, value=s.scalar(select(func.max(Alert.id))) or 0))


def password(instance: Path) -> str | None:
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    path = instance / PASSWORD_FILE
    if not path.exists():
        return None
    return path.read_text().strip() or None


def store_password(instance: Path, secret: str) -> None:
    """Keep the SMTP password in the instance directory (0600); an empty one removes it."""
    path = instance / PASSWORD_FILE
    if not secret:
        path.unlink(missing_ok=True)
        return
    instance.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    tmp.replace(path)


# -- the mails ----------------------------------------------------------------------------------

def _when(alert: Alert) -> str:
    return aware(alert.created_at).astimezone(VN).strftime("%Y-%m-%d %H:%M:%S (UTC+7)")


def _lines(alert: Alert, vi: bool) -> list[str]:
    kinds = KINDS_VI if vi else KINDS_EN
    lines = [f"{'Cảnh báo' if vi else 'Alert'} #{alert.id}: {kinds.get(alert.kind, alert.kind)} ({alert.kind})",
             f"{'Thời điểm' if vi else 'Time'}: {_when(alert)}"]
    if alert.station_id:
        lines.append(f"{'Trạm' if vi else 'Station'}: {alert.station_id}")
    if alert.serial:
        lines.append(f"{'Tem' if vi else 'Stamp'}: {alert.serial}")
    lines.append(f"{'Chi tiết' if vi else 'Detail'}: {alert.message}")
    return lines


def _message(settings: SmtpSettings, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, settings.sender, ", ".join(settings.recipients)
    msg["Date"], msg["Message-ID"] = formatdate(localtime=False), make_msgid(domain="tem.hub")
    msg.set_content(body)
    return msg


FOOTER_VI = "Xem và xử lý cảnh báo trong bảng điều khiển Tem (mục Cảnh báo)."
FOOTER_EN = "See and handle the alert in the Tem operator console (Alerts)."


def alert_mail(settings: SmtpSettings, alert: Alert) -> EmailMessage:
    where = f" – {alert.station_id}" if alert.station_id else f" – {alert.serial}" if alert.serial else ""
    subject = (f"[Tem] {KINDS_VI.get(alert.kind, alert.kind)} / {KINDS_EN.get(alert.kind, alert.kind)}{where}")
    body = "\n".join([*_lines(alert, True), "", FOOTER_VI, "", "-- English --", "", *_lines(alert, False), "",
                      FOOTER_EN, ""])
    return _message(settings, subject, body)


def digest_mail(settings: SmtpSettings, alerts: list[Alert], more: int) -> EmailMessage:
    n = len(alerts) + more
    subject = f"[Tem] {n} cảnh báo mới / {n} new alerts"
    vi = [f"Có {n} cảnh báo mới; gộp lại trong một thư để hộp thư không bị tràn.", ""]
    en = [f"{n} new alerts, gathered in one mail so that a burst does not flood the mailbox.", ""]
    for a in alerts:
        where = a.station_id or a.serial or ""
        vi.append(f"- #{a.id} {_when(a)} {KINDS_VI.get(a.kind, a.kind)} {where}: {a.message}")
        en.append(f"- #{a.id} {_when(a)} {KINDS_EN.get(a.kind, a.kind)} {where}: {a.message}")
    if more:
        vi.append(f"… và {more} cảnh báo khác.")
        en.append(f"… and {more} more.")
    body = "\n".join([*vi, "", FOOTER_VI, "", "-- English --", "", *en, "", FOOTER_EN, ""])
    return _message(settings, subject, body)


def test_mail(settings: SmtpSettings, who: str) -> EmailMessage:
    return _message(settings, "[Tem] Thư thử / Test e-mail",
                    f"Thư thử từ máy chủ Tem, do {who} gửi: cấu hình SMTP hoạt động.\n\n-- English --\n\n"
                    f"A test e-mail from the Tem hub, sent by {who}: the SMTP settings work.\n")


def send(settings: SmtpSettings, secret: str | None, msgs: list[EmailMessage], timeout: float = TIMEOUT_S) -> None:
    """Send over one connection; raises MailError saying what went wrong."""
    if not settings.enabled:
        raise MailError("chưa cấu hình máy chủ SMTP / no SMTP server configured")
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                if not secret:
                    raise MailError(f"thiếu mật khẩu SMTP / no SMTP password: set {PASSWORD_ENV} or save one here")
                smtp.login(settings.username, secret)
            for msg in msgs:
                smtp.send_message(msg)
    except MailError:
        raise
    except smtplib.SMTPException as exc:
        raise MailError(f"máy chủ SMTP {settings.host}:{settings.port} từ chối / refused: {exc}") from exc
    except (OSError, ssl.SSLError) as exc:
        raise MailError(f"không kết nối được máy chủ SMTP / cannot reach the SMTP server "
                        f"{settings.host}:{settings.port}: {exc}") from exc


class Mailer:
    """Mails new alerts (see the module docstring); `notify` is one pass of the watch timer."""

    def __init__(self, sessions: sessionmaker[Session], instance: Path, per_hour: int = MAIL_PER_HOUR):
        self.sessions, self.instance, self.per_hour = sessions, instance, per_hour
        self.sent: deque[float] = deque()  # monotonic times of the mails sent in the last hour

    def _budget(self) -> int:
        now = time.monotonic()
        while self.sent and now - self.sent[0] > 3600:
            self.sent.popleft()
        return self.per_hour - len(self.sent)

    def notify(self) -> int:
        """Mail what is new; returns the number of mails sent. Raises MailError (nothing marked sent)."""
        with self.sessions() as s, s.begin():
            settings = load(s)
            cursor = s.get(Counter, CURSOR, with_for_update=True)
            if not settings.enabled:
                if cursor is not None:  # mail is off: alerts raised meanwhile are not mailed later
                    s.delete(cursor)
                return 0
            if cursor is None:  # alerts from before mail was set up are not mailed
                s.add(Counter(name=CURSOR, value=s.scalar(select(func.max(Alert.id))) or 0))
                return 0
            budget = self._budget()
            if budget <= 0:
                return 0
            top = s.scalar(select(func.max(Alert.id))) or 0
            new = (Alert.id > cursor.value) & (Alert.id <= top)
            total = s.scalar(select(func.count()).select_from(Alert).where(new)) or 0
            if not total:
                return 0
            fresh = list(s.scalars(select(Alert).where(new).order_by(Alert.id).limit(DIGEST_LIST)))
            if total <= min(MAIL_SINGLE, budget):
                msgs = [alert_mail(settings, a) for a in fresh]
            else:
                msgs = [digest_mail(settings, fresh, total - len(fresh))]
            send(settings, password(self.instance), msgs)  # an error leaves the cursor where it was
            cursor.value = top
            self.sent.extend([time.monotonic()] * len(msgs))
            return len(msgs)
