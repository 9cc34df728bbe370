"""Sign-in for the operator console and the API: users with roles, sessions (Flask-Login),
CSRF on every form (Flask-WTF), bearer tokens for /api/v1, and the audit log.

Other blueprints use `login_required`, `roles_required(...)`, `current_user` and
`scope_cooperative()` from here."""
from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from flask import (Blueprint, Flask, abort, current_app, flash, g, jsonify, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_login import login_required as _login_required
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from hub.models import ROLES, ApiToken, AuditLog, User, utcnow

__all__ = ["login_required", "roles_required", "current_user", "scope_cooperative", "audit", "create_user",
           "create_token", "Principal"]

bp = Blueprint("auth", __name__, template_folder="templates")
csrf = CSRFProtect()
WEB_ROLES = ("admin", "manager", "inspector")
LOGIN_LIMIT = "10 per minute;60 per hour"


class AuthError(ValueError):
    pass


class Principal(UserMixin):
    """The signed-in person as the views see it (detached from the database session)."""

    def __init__(self, user: User):
        self.id = user.id
        self.username = user.username
        self.role = user.role
        self.cooperative_id = user.cooperative_id
        self.active = user.active

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "manager")


def _db() -> Session:
    from hub.app import db
    return db()


def create_user(session: Session, username: str, password: str, role: str,
                cooperative_id: int | None = None) -> User:
    """Add a user; the caller commits. A manager belongs to exactly one cooperative."""
    username = username.strip()
    if not username or len(username) > 80:
        raise AuthError("username must be 1-80 characters")
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}")
    if role == "manager" and cooperative_id is None:
        raise AuthError("a cooperative manager needs --cooperative")
    if role != "manager" and cooperative_id is not None:
        raise AuthError("only a cooperative manager belongs to a cooperative")
    if role != "station" and len(password) < 8:
        raise AuthError("password must have at least 8 characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AuthError(f"user {username!r} exists already")
    user = User(username=username, role=role, cooperative_id=cooperative_id, active=True,
                # A station is a machine identity: it gets no usable web password.
                password_hash=generate_password_hash(password) if role != "station" else "!")
    session.add(user)
    session.flush()
    return user


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str = "") -> str:
    """A new API token for `user`; returns the token, which is shown once and stored only hashed."""
    token = "tem_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), name=name))
    session.flush()
    return token


def audit(action: str, target_type: str, target_id: object = "", *, cooperative_id: int | None = None,
          **detail: Any) -> None:
    """Record who changed what, in the request's session (committed with the change itself)."""
    who = current_user if current_user and current_user.is_authenticated else None
    _db().add(AuditLog(user_id=who.id if who else None, username=who.username if who else "",
                       action=action, target_type=target_type, target_id=str(target_id),
                       cooperative_id=cooperative_id, detail=detail or None))


def scope_cooperative() -> int | None:
    """The cooperative the current user is confined to, or None for admins and inspectors."""
    if current_user.is_authenticated and current_user.role == "manager":
        return int(current_user.cooperative_id)
    return None


def may_see(cooperative_id: int | None) -> bool:
    scope = scope_cooperative()
    return scope is None or scope == cooperative_id


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    return _login_required(view)


def roles_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Signed in with one of `roles`, or 403 (anonymous: the login page, or 401 for the API)."""
    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return inner
    return wrap


def _load_user(user_id: str) -> Principal | None:
    try:
        user = _db().get(User, int(user_id))
    except ValueError:
        return None
    if user is None or not user.active or user.role not in WEB_ROLES:
        return None
    return Principal(user)


def _load_from_token(req: Any) -> Principal | None:
    """Bearer tokens, for /api/v1 only (a token must not open the cookie-based console)."""
    if not req.path.startswith("/api/"):
        return None
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    s = _db()
    row = s.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(header[7:].strip()),
                                           ApiToken.revoked_at.is_(None))).first()
    if row is None or not row.user.active or row.user.role not in WEB_ROLES:
        return None
    row.last_used_at = utcnow()
    s.commit()
    g.api_token = True
    return Principal(row.user)


def _unauthorized() -> Any:
    if request.path.startswith("/api/"):
        return jsonify(error="unauthorized", message="send Authorization: Bearer <token>"), 401
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("ops.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        user = _db().scalars(select(User).where(User.username == username)).first()
        ok = (user is not None and user.active and user.role in WEB_ROLES
              and check_password_hash(user.password_hash, password))
        if ok:
            session.clear()  # a fresh session on sign-in (no fixation)
            login_user(Principal(user))  # type: ignore[arg-type]
            _db().add(AuditLog(user_id=user.id, username=user.username, action="login",  # type: ignore[union-attr]
                               target_type="user", target_id=str(user.id)))  # type: ignore[union-attr]
            _db().commit()
            return redirect(_safe_next(request.args.get("next")))
        error = _("Wrong username or password.")
    return render_template("ops/login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    logout_user()
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))


@bp.route("/media/<name>")
def media(name: str) -> Any:
    """Product photos uploaded in the console (public: they appear on the stamp pages)."""
    from pathlib import Path

    from flask import send_from_directory
    return send_from_directory(Path(current_app.instance_path) / "media", name, max_age=365 * 24 * 3600)


@bp.route("/")
def home() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("ops.dashboard"))
    return render_template("ops/landing.html")


def init_app(app: Flask, *exempt: Blueprint) -> None:
    """Call after hub.ratelimit.init_app: the login form gets its own, stricter limit."""
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # a form left open all day still submits
    lm = LoginManager(app)
    lm.user_loader(_load_user)
    lm.request_loader(_load_from_token)
    lm.unauthorized_handler(_unauthorized)
    csrf.init_app(app)
    for b in exempt:
        csrf.exempt(b)  # token-authenticated JSON: no cookies, so nothing for CSRF to forge
    app.register_blueprint(bp)
    limiter = app.extensions["tem.limiter"]
    app.view_functions["auth.login"] = limiter.limit(
        lambda: current_app.config.get("TEM_LOGIN_LIMIT", LOGIN_LIMIT), methods=["POST"],
        key_func=_login_key)(app.view_functions["auth.login"])

    @app.errorhandler(403)
    def _forbidden(_exc: Any) -> Any:
        if request.path.startswith("/api/"):
            return jsonify(error="forbidden"), 403
        return render_template("ops/error.html", code=403,
                               message=_("You do not have access to this page.")), 403

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        message = _("The form expired or was not sent from this site. Reload the page and try again.")
        return render_template("ops/error.html", code=400, message=message), 400


def _login_key() -> str:
    from flask_limiter.util import get_remote_address
    return f"login|{get_remote_address()}"
