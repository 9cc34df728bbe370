"""Page furniture shared by the public templates: long-cached static assets with
content-hashed URLs, the large-text choice (a cookie, no JavaScript), and links
that switch language or text size while keeping the rest of the address."""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, g, request, url_for
from flask_babel import format_date, format_datetime, lazy_gettext as _l

from hub.i18n import lang

YEAR = 365 * 24 * 3600
# Timeline labels, translated one at a time when shown (a dict built in the template
# translated every label for every line of every page).
LABELS = {
    "planting": _l("Planting"), "harvest": _l("Harvest"), "processing": _l("Processing"), "packing": _l("Packing"),
    "inspection": _l("Inspection"), "transport": _l("Transport"), "other": _l("Other work"),
    "printed": _l("Stamp printed"), "activated": _l("Stamp attached to the pack and activated"),
    "sold": _l("Sold"), "voided": _l("Stamp cancelled"), "inspected": _l("Inspected by the authorities"),
}


def label(kind: str) -> str:
    text = LABELS.get(kind)
    return str(text) if text is not None else kind


def init_app(app: Flask) -> None:
    # Asset URLs carry a content hash, so browsers may keep the files for a year.
    if app.config.get("SEND_FILE_MAX_AGE_DEFAULT") is None:  # Flask's default is "revalidate every time"
        app.config["SEND_FILE_MAX_AGE_DEFAULT"] = YEAR
    static = Path(app.static_folder or "")
    hashes: dict[str, str] = {}

    def asset(filename: str) -> str:
        if filename not in hashes:
            hashes[filename] = hashlib.sha256((static / filename).read_bytes()).hexdigest()[:10]
        return url_for("static", filename=filename, v=hashes[filename])

    def large_text() -> bool:
        asked = request.args.get("size")
        if asked in ("large", "normal"):
            g.set_size_cookie = asked
            return asked == "large"
        return request.cookies.get("size") == "large"

    def switch(**params: str) -> str:
        """This page's address with `params` replaced (lang=en, size=large)."""
        args = {k: v for k, v in request.args.items() if k not in params}
        args.update(params)
        return request.path + "?" + urlencode(args)

    app.jinja_env.globals.update(asset=asset, large_text=large_text, switch=switch, when=when, label=label,
                                 expired=expired, lang=lang)

    @app.after_request
    def _remember_size(response):  # type: ignore[no-untyped-def]
        chosen = g.pop("set_size_cookie", None)
        if chosen:
            response.set_cookie("size", chosen, max_age=YEAR, samesite="Lax")
        return response


def when(value: dt.datetime | dt.date) -> str:
    """A date or time the way people write it in Vietnam (times in Vietnam's zone)."""
    vi = lang() == "vi"
    if isinstance(value, dt.datetime):
        return format_datetime(value, "HH:mm, dd/MM/yyyy" if vi else "d MMM yyyy, HH:mm")
    return format_date(value, "dd/MM/yyyy" if vi else "d MMM yyyy")


def expired(day: dt.date | None) -> bool:
    return day is not None and day < dt.date.today()
