"""Accounts from the command line (`tem admin create-user`, `create-token`), hashed
passwords, and the sign-in form's rate limit."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hub import db as hubdb
from hub.cli import main
from hub.models import ApiToken, AuditLog, Cooperative, User
from tests.ops_fixtures import Console, make_app


def _run(db_url: str, tmp_path: Path, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    env = {"DATABASE_URL": db_url, "TEM_INSTANCE": str(tmp_path / "instance")}
    return CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)


def test_the_first_admin_is_made_on_the_command_line_and_can_sign_in(db_url: str, tmp_path: Path) -> None:
    r = _run(db_url, tmp_path, "admin", "create-user", "chi.lan", "--role", "admin", "--password-stdin",
             stdin="mật khẩu dài 123\n")
    assert r.exit_code == 0, r.output
    engine = hubdb.make_engine(db_url)
    with hubdb.sessions(engine)() as s:
        user = s.scalars(select(User)).one()
        audit = s.scalars(select(AuditLog)).one()
    engine.dispose()
    assert user.role == "admin" and "mật khẩu" not in user.password_hash and user.password_hash.startswith("scrypt:")
    assert (audit.username, audit.action, audit.target_type) == ("cli", "create", "user")
    app = make_app(db_url, tmp_path / "instance", RATELIMIT_ENABLED=False)
    Console(app.test_client()).sign_in("chi.lan", "mật khẩu dài 123")


def test_a_manager_needs_an_existing_cooperative_and_names_are_unique(db_url: str, tmp_path: Path) -> None:
    r = _run(db_url, tmp_path, "admin", "create-user", "anh.ba", "--role", "manager", "--password-stdin",
             stdin="password-123\n")
    assert r.exit_code != 0 and "needs --cooperative" in r.output
    r = _run(db_url, tmp_path, "admin", "create-user", "anh.ba", "--role", "manager", "--cooperative", "7",
             "--password-stdin", stdin="password-123\n")
    assert r.exit_code != 0 and "no cooperative with id 7" in r.output
    engine = hubdb.make_engine(db_url)
    with hubdb.sessions(engine)() as s, s.begin():
        s.add(Cooperative(name="HTX Tân Phước"))
    engine.dispose()
    r = _run(db_url, tmp_path, "admin", "create-user", "anh.ba", "--role", "manager", "--cooperative", "1",
             "--password-stdin", stdin="password-123\n")
    assert r.exit_code == 0, r.output
    r = _run(db_url, tmp_path, "admin", "create-user", "anh.ba", "--role", "inspector", "--password-stdin",
             stdin="password-123\n")
    assert r.exit_code != 0 and "exists already" in r.output
    r = _run(db_url, tmp_path, "admin", "create-user", "ngan", "--role", "inspector", "--password-stdin",
             stdin="short\n")
    assert r.exit_code != 0 and "at least 8" in r.output


def test_a_token_is_shown_once_and_stored_hashed(db_url: str, tmp_path: Path) -> None:
    _run(db_url, tmp_path, "admin", "create-user", "script", "--role", "inspector", "--password-stdin",
         stdin="password-123\n")
    r = _run(db_url, tmp_path, "admin", "create-token", "script", "--name", "nightly export")
    token = r.output.strip()
    assert r.exit_code == 0 and token.startswith("tem_")
    engine = hubdb.make_engine(db_url)
    with hubdb.sessions(engine)() as s:
        row = s.scalars(select(ApiToken)).one()
    engine.dispose()
    assert token not in row.token_hash and row.name == "nightly export"
    app = make_app(db_url, tmp_path / "instance")
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()["role"] == \
        "inspector"
    r = _run(db_url, tmp_path, "admin", "create-token", "nobody")
    assert r.exit_code != 0 and "no active user" in r.output


def test_a_station_identity_cannot_sign_in_to_the_console(db_url: str, tmp_path: Path) -> None:
    r = _run(db_url, tmp_path, "admin", "create-user", "st-9", "--role", "station")
    assert r.exit_code == 0, r.output
    app = make_app(db_url, tmp_path / "instance", RATELIMIT_ENABLED=False)
    c = Console(app.test_client())
    c.get("/login")
    for password in ("", "!", "st-9"):
        assert c.post("/login", {"username": "st-9", "password": password}).status_code == 401


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sign_in_attempts_are_rate_limited(db_url: str, tmp_path: Path) -> None:
    app = make_app(db_url, tmp_path / "instance", TEM_LOGIN_LIMIT="3 per minute")
    c = Console(app.test_client())
    c.get("/login")
    codes = [c.post("/login", {"username": "admin", "password": f"guess {i}"}).status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    # reading the form is not limited
    assert c.get("/login").status_code == 200
