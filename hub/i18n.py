"""Languages of the public pages: Vietnamese by default, English by a link, a cookie or the browser.

The .po catalogues in hub/translations are the source; they are compiled to .mo in the
instance directory when the app starts, so a fresh checkout (or a read-only install)
never depends on a compiled file being checked in or built by hand."""
from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, request
from flask_babel import Babel, get_locale, get_translations

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
SOURCE = Path(__file__).parent / "translations"
COOKIE_AGE = 365 * 24 * 3600


def compile_catalogs(source: Path, target: Path) -> Path:
    """Compile every <lang>/LC_MESSAGES/*.po under `source` into `target` when it is newer."""
    for po in source.glob("*/LC_MESSAGES/*.po"):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parts[-3])
        tmp = mo.with_suffix(".tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)  # atomic: several gunicorn workers may compile at once
    return target


def select_locale() -> str:
    """?lang= beats the lang cookie, which beats the browser's Accept-Language; else Vietnamese."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        g.set_lang_cookie = asked
        return asked
    cookie = request.cookies.get("lang")
    if cookie in LANGUAGES:
        return cookie
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT) or DEFAULT


def lang() -> str:
    try:
        return g.tem_lang  # type: ignore[no-any-return]
    except AttributeError:
        g.tem_lang = str(get_locale() or DEFAULT)
        return g.tem_lang  # type: ignore[no-any-return]


def _translations():  # type: ignore[no-untyped-def]
    # Flask-Babel looks the catalogue up through several context locals on every string;
    # a page has dozens of strings, so the request keeps it once.
    try:
        return g.tem_translations
    except AttributeError:
        g.tem_translations = get_translations()
        return g.tem_translations


def init_app(app: Flask) -> None:
    compiled = compile_catalogs(SOURCE, Path(app.instance_path) / "translations")
    Babel(app, default_locale=DEFAULT, default_timezone="Asia/Ho_Chi_Minh",
          default_translation_directories=str(compiled), locale_selector=select_locale)
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True)

    @app.after_request
    def _remember_choice(response):  # type: ignore[no-untyped-def]
        chosen = g.pop("set_lang_cookie", None)
        if chosen:
            response.set_cookie("lang", chosen, max_age=COOKIE_AGE, samesite="Lax")
        return response
