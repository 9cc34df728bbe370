"""Public stamp pages and GS1 resolver: what a consumer (or a GS1 application) gets
after scanning a Tem QR code. /01/{gtin}[/10/{lot}][/21/{serial}], /t/{serial}."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, redirect, render_template, request

from hub import history, linkset
from hub.app import db
from hub.i18n import LANGUAGES, lang
from hub.models import Product
from hub.ratelimit import first_check
from tem import codes, gs1

bp = Blueprint("resolver", __name__)


@bp.after_request
def _cors(response):  # type: ignore[no-untyped-def]
    # GS1 resolvers answer any origin; nothing here depends on the caller's credentials.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Accept, Accept-Language"
    response.headers["Access-Control-Expose-Headers"] = "Link, Location"
    response.vary.update(("Accept", "Accept-Language", "Cookie"))
    return response


def _outlets() -> history.Outlets:
    return current_app.extensions.setdefault("tem.outlets", history.Outlets())


def _root() -> str:
    return request.host_url.rstrip("/")


def _link_type() -> str | None:
    return request.args.get("linkType")


def _wants_linkset() -> bool:
    if _link_type() in ("all", "linkset"):
        return True
    accept = request.accept_mimetypes
    best = accept.best_match([linkset.MEDIA_TYPE, "application/json", "text/html"], default="text/html")
    return best in (linkset.MEDIA_TYPE, "application/json") and accept[best] > accept["text/html"]


def _problem(status: int, template: str, **context: Any):  # type: ignore[no-untyped-def]
    """An error page, or a JSON problem for a client that asked for a linkset."""
    if _wants_linkset():
        return jsonify({"status": status, "error": context.get("detail") or context.get("reason") or template}), status
    return render_template(template, **context), status


def bad_request(detail: str):  # type: ignore[no-untyped-def]
    return _problem(400, "bad_request.html", detail=detail, path=request.path)


def not_tem(code: str, reason: str = ""):  # type: ignore[no-untyped-def]
    return _problem(404, "not_tem.html", code=code, reason=reason)


@bp.get("/01/<path:rest>")
@bp.get("/gtin/<path:rest>")
def digital_link(rest: str):  # type: ignore[no-untyped-def]
    try:
        dl = gs1.parse_path(request.host, "/01/" + rest, request.query_string.decode("latin-1"))
        if dl.prefix:
            raise gs1.GS1Error("only one /01/{GTIN} may appear in the path")
    except gs1.GS1Error as exc:
        return bad_request(str(exc))
    product = history.find_product(db(), dl.gtin)
    if dl.serial:
        return _stamp(dl.serial, product, gtin=dl.gtin, lot=dl.lot)
    if product is None:
        return not_tem(dl.gtin, "product")
    if dl.lot:
        batch = history.find_batch(db(), product, dl.lot)
        if batch is None:
            return not_tem(dl.lot, "lot")
        return _item(product, batch.lot, history.batch_page(db(), batch, _outlets()), "item.html")
    return _item(product, None, history.product_page(db(), product, _outlets()), "item.html")


@bp.get("/t/<serial>")
@bp.get("/T/<serial>")
def short_link(serial: str):  # type: ignore[no-untyped-def]
    return _stamp(serial, None)


def _stamp(raw: str, product: Product | None, gtin: str | None = None, lot: str | None = None):  # type: ignore[no-untyped-def]
    try:
        serial = codes.normalize(raw)
    except codes.CodeError as exc:
        return not_tem(raw, str(exc))
    s = db()
    stamp = history.find_stamp(s, serial)
    if stamp is None or (gtin and stamp.gtin and stamp.gtin != gtin):
        return not_tem(codes.grouped(serial) if len(serial) == codes.SERIAL_LENGTH else raw)
    if lot and stamp.batch and stamp.batch.lot.upper() != lot.upper():
        return not_tem(codes.grouped(serial), "lot")
    if stamp.batch is not None:
        product = stamp.batch.product
    elif stamp.gtin is None:
        product = None  # a pre-printed roll stamp not yet bound to any product
    elif product is None or product.gtin != stamp.gtin:
        product = history.find_product(s, stamp.gtin)
    if _link_type() or _wants_linkset():
        if product is None:
            return not_tem(codes.grouped(serial), "unbound")
        return _item(product, stamp.batch.lot if stamp.batch else None, None, None, serial=serial)
    if request.method == "GET" and first_check(serial):
        history.record_check(s, stamp, stamp.state)
    page = history.stamp_page(s, stamp, product, _outlets())
    if page.suspicion is not None:
        history.raise_clone_alert(s, stamp, page.suspicion)
    s.commit()
    response = _html(render_template("stamp.html", grouped=codes.grouped(serial), **_context(page)),
                     product, stamp.batch.lot if stamp.batch else None, serial)
    response.headers["Cache-Control"] = "private, no-store"  # every view is a check
    return response


def _context(page: history.Page) -> dict[str, Any]:
    coop = page.product.cooperative if page.product else None
    return {"page": page, "product": page.product, "batch": page.batch, "stamp": page.stamp,
            "verdict": page.verdict, "coop": coop, "map_url": map_url(coop) if coop else None,
            "product_name": product_name(page.product) if page.product else ""}


def _html(body: str, product: Product | None, lot: str | None, serial: str | None):  # type: ignore[no-untyped-def]
    response = current_app.make_response(body)
    if product is not None:
        here = _root() + linkset.item_path(product.gtin, None if serial else lot, serial)
        response.headers["Link"] = f'<{here}?linkType=linkset>; rel="linkset"; type="{linkset.MEDIA_TYPE}"'
    return response


def product_name(product: Product) -> str:
    return product.name_en if lang() == "en" and product.name_en else product.name_vi


def map_url(coop: Any) -> str | None:
    """A maps link that phones open in their map app."""
    if coop.lat is not None and coop.lon is not None:
        return f"https://www.google.com/maps/search/?api=1&query={coop.lat:.6f}%2C{coop.lon:.6f}"
    place = ", ".join(p for p in (coop.address, coop.district, coop.province) if p)
    return "https://www.google.com/maps/search/?" + urlencode({"api": 1, "query": f"{coop.name}, {place}"}) \
        if place else None


def _links(product: Product, lot: str | None, serial: str | None) -> list[linkset.Link]:
    certs = [(f"{c.kind.upper()} {c.number}".strip(), c.url) for c in history.certificates(db(), product.id)]
    return linkset.links_for(_root(), product.gtin, lot=lot, serial=serial, title=product_name(product),
                             certificates=certs, map_url=map_url(product.cooperative))


def _item(product: Product, lot: str | None, page: history.Page | None, template: str | None,
          serial: str | None = None):  # type: ignore[no-untyped-def]
    """Answer for an item GS1-style: a linkType redirect, a linkset, or the HTML page."""
    links = _links(product, lot, serial)
    link_type = _link_type()
    if link_type and link_type not in ("all", "linkset"):
        # An unknown or unoffered link type falls back to the default link (GS1 resolver rules).
        chosen = linkset.pick(links, link_type) or links[0]
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "linkType"]
        href, _hash, fragment = chosen.href.partition("#")
        if query:
            href += ("&" if "?" in href else "?") + urlencode(query)
        return redirect(href + (f"#{fragment}" if fragment else ""), code=307)
    if _wants_linkset():
        title = product_name(product)
        entries = [linkset.anchor_entry(links[0].href, title, links, LANGUAGES)]  # links[0]: the item itself
        # The lot- and GTIN-level links travel with a serial's linkset (GS1 resolver 1.2).
        if serial and lot:
            entries.append(linkset.anchor_entry(_root() + linkset.item_path(product.gtin, lot), title,
                                                _links(product, lot, None), LANGUAGES))
        if serial or lot:
            entries.append(linkset.anchor_entry(_root() + linkset.item_path(product.gtin), title,
                                                _links(product, None, None), LANGUAGES))
        response = jsonify({"linkset": entries})
        response.mimetype = linkset.MEDIA_TYPE
        return response
    assert page is not None and template is not None
    response = _html(render_template(template, **_context(page)), product, lot, serial)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.get("/.well-known/gs1resolver")
def resolver_description():  # type: ignore[no-untyped-def]
    return jsonify({
        "name": "Tem – truy xuất nguồn gốc",
        "resolverRoot": _root(),
        "supportedPrimaryKeys": ["gtin"],
        "supportedLinkType": [{"namespace": linkset.VOC, "prefix": "gs1:"}],
        "linkTypes": [f"gs1:{t}" for t in linkset.LINK_TYPES],
        "linkTypeDefaultCanBeLinkset": True,
        "supportedContextValuesEnumerated": [],
        "languages": list(LANGUAGES),
    })

