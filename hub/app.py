"""Flask application factory: settings from the environment (or a test's mapping),
one database session per request, one blueprint per audience."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from hub import db as hubdb
from hub.keys import load_keyring
from hub.settings import Settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    test_config = test_config or {}
    settings = Settings.from_env(test_config.get("TEM_INSTANCE"))
    app = Flask(__name__, instance_path=str(settings.instance), instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        DATABASE_URL=settings.database_url,
        PUBLIC_HOST=settings.public_host,
    )
    app.config.update(test_config)
    engine = hubdb.make_engine(app.config["DATABASE_URL"])
    app.extensions["tem.sessions"] = hubdb.sessions(engine)
    app.extensions["tem.keyring"] = load_keyring(settings.instance / "keys.json")
    app.extensions["tem.settings"] = settings
    app.teardown_appcontext(_close_session)

    from hub import display, i18n, ratelimit, resolver
    _ops_catalog(app)
    i18n.init_app(app)
    display.init_app(app)
    app.register_blueprint(resolver.bp)
    ratelimit.init_app(app, resolver.bp)
    _operator_console(app)
    return app


def _ops_catalog(app: Flask) -> None:
    """The console's strings live in their own catalogue (translations/*/LC_MESSAGES/ops.po)."""
    compiled = str(Path(app.instance_path) / "translations")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", f"{compiled};{compiled}")
    app.config.setdefault("BABEL_DOMAIN", "ops;messages")  # the public pages' words win a clash


def _operator_console(app: Flask) -> None:
    from hub import api, auth, ops
    ops.init_app(app)
    app.register_blueprint(api.bp)
    auth.init_app(app, api.bp)
    from hub import enrol
    enrol.init_app(app)  # stations trade a one-time code for their broker identity


def db() -> Session:
    """The request's database session."""
    if "db" not in g:
        g.db = current_app.extensions["tem.sessions"]()
    return g.db


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
