"""Public stamp pages: what a consumer sees after scanning a Tem QR code."""
from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from hub.app import db
from hub.models import Batch, Event, Product, Stamp
from tem import codes, gs1

bp = Blueprint("resolver", __name__)


def _not_tem(reason: str, code: str):  # type: ignore[no-untyped-def]
    return render_template("not_tem.html", reason=reason, code=code), 404


@bp.get("/01/<gtin>/21/<serial>")
def stamp_page(gtin: str, serial: str):  # type: ignore[no-untyped-def]
    try:
        gtin14 = gs1.normalize_gtin(gtin)
    except gs1.GS1Error as exc:
        return render_template("not_tem.html", reason=str(exc), code=gtin), 400
    return _show(serial, gtin14)


@bp.get("/t/<serial>")
@bp.get("/T/<serial>")
def short_page(serial: str):  # type: ignore[no-untyped-def]
    return _show(serial, None)


def _show(raw: str, gtin: str | None):  # type: ignore[no-untyped-def]
    try:
        serial = codes.normalize(raw)
    except codes.CodeError as exc:
        return _not_tem(str(exc), raw)
    stamp = db().scalars(select(Stamp).where(Stamp.serial == serial)
                         .options(joinedload(Stamp.batch).joinedload(Batch.product).joinedload(Product.cooperative))
                         ).first()
    if stamp is None or (gtin and stamp.gtin and stamp.gtin != gtin):
        return _not_tem("unknown", serial)
    events = db().scalars(select(Event).where(Event.serial == serial).order_by(Event.at)).all()
    product = stamp.batch.product if stamp.batch else db().scalars(
        select(Product).where(Product.gtin == stamp.gtin)).first()
    return render_template("stamp.html", stamp=stamp, product=product, batch=stamp.batch, events=events,
                           grouped=codes.grouped(serial))
