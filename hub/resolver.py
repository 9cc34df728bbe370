"""Public stamp pages and GS1 resolver: what a consumer (or a GS1 application) gets
after scanning a Tem QR code. /01/{gtin}[/10/{lot}][/21/{serial}], /t/{serial}."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, flash, jsonify, redirect, request
from flask_babel import gettext as _

from sqlalchemy import bindparam, case, cast, func, literal, null, select, union_all

from hub import clones, history, linkset, outlets
from hub import db as hubdb
from hub.app import db
from hub.checks import FLUSH_MS, CheckRecorder
from hub.i18n import LANGUAGES, lang
from hub.models import Batch, Certificate, Cooperative, DiaryEntry, Event, Product, Stamp, Station, utcnow
from hub.ratelimit import first_check
from tem import codes, gs1

bp = Blueprint("resolver", __name__)
log = logging.getLogger(__name__)


@bp.record_once
def _setup(state) -> None:  # type: ignore[no-untyped-def]
    app = state.app
    engine = app.extensions["tem.sessions"].kw["bind"]
    # Page reads run in autocommit: no BEGIN and COMMIT/ROLLBACK round trips around two SELECTs.
    app.extensions["tem.read_engine"] = engine.execution_options(isolation_level="AUTOCOMMIT")
    # The check writer and the facts reloader have their own pool (two connections at most):
    # in the request threads' pool they made it overflow under load, and an overflow
    # connection is a PostgreSQL backend started and stopped each time.
    background = hubdb.make_engine(engine.url.render_as_string(hide_password=False))
    app.extensions["tem.checks"] = CheckRecorder(background, int(app.config.get("TEM_CHECK_FLUSH_MS", FLUSH_MS)))
    app.extensions["tem.page_facts"] = PageFacts(background.execution_options(isolation_level="AUTOCOMMIT"))
    app.extensions["tem.page_parts"] = BatchParts()


class PageFacts:
    """Facts shared by every stamp of a batch (batch, product, producer, diary, certificates,
    where to buy) and the stations, cached per process.

    An entry past its time is still served while one background thread reloads it: a page
    never waits for a reload, and a thousand views of one batch never reload it a thousand
    times. Only the first view of a batch in a process reads it in the request."""

    # A diary entry or certificate typed in the office shows within DEFAULT_TTL. At 30 s every
    # worker re-read the diary of each of thousands of batches twice a minute, which cost
    # more than the pages themselves.
    TTL = {"outlets": history.OUTLETS_TTL_S, "batch_mean": history.OUTLETS_TTL_S, "batches": 600,
           "stations": 600}
    DEFAULT_TTL = 120

    def __init__(self, engine: Any) -> None:
        self.engine = engine  # for reloads in the background; first loads use the request's connection
        self._data: dict[tuple[str, Any], tuple[float, Any]] = {}
        self._reloading: set[tuple[str, Any]] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def get(self, kind: str, key: Any, load: Callable[[Any], Any], conn: Any) -> Any:
        """The cached value, loaded with `conn` (the request's connection) on first use."""
        hit = self._data.get((kind, key))
        if hit is None:
            value = load(conn)
            self._data[(kind, key)] = (time.monotonic(), value)
            return value
        if time.monotonic() - hit[0] > self.TTL.get(kind, self.DEFAULT_TTL):
            with self._lock:
                if (kind, key) not in self._reloading:
                    self._reloading.add((kind, key))
                    self._executor().submit(self._reload, kind, key, load)
        return hit[1]

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pid != os.getpid():  # threads do not survive gunicorn's fork
            self._pool, self._pid = ThreadPoolExecutor(1, thread_name_prefix="tem-facts"), os.getpid()
        return self._pool

    def _reload(self, kind: str, key: Any, load: Callable[[Any], Any]) -> None:
        try:
            with self.engine.connect() as conn:
                self._data[(kind, key)] = (time.monotonic(), load(conn))
        except Exception:
            log.exception("reloading %s %s failed; serving the old value", kind, key)
        finally:
            with self._lock:
                self._reloading.discard((kind, key))


class BatchParts:
    """The parts of a stamp page that every stamp of a batch shares (product facts, diary
    lines, certificates, where to buy, producer), rendered once per batch and language in
    each process: templates were ~40 % of a page's CPU, mostly for these parts.

    An entry is used only while every fact it was rendered from is still the object
    PageFacts serves, so it is exactly as fresh as those facts: when one is reloaded, the
    next view renders the parts again."""

    MAX = 20_000  # entries (two languages of every batch of several years); beyond, start over

    def __init__(self) -> None:
        self._parts: dict[tuple[int, str], tuple[tuple[Any, ...], SimpleNamespace]] = {}

    def get(self, page: history.Page) -> SimpleNamespace:
        """facts: the rows of the facts list; steps: page.steps with the diary's lines
        rendered; about: certificates, where to buy and producer."""
        if page.product is None:
            return SimpleNamespace(facts=None, steps=page.steps, about=None)
        product, batch = page.product, page.batch
        made_from = (product, batch, product.cooperative, page.diary, page.certificates, page.outlets)
        if batch is None:  # a stamp bound to a product but to no batch: rare, not cached
            return self._steps(page, self._render(made_from))
        key = (batch.id, lang())
        hit = self._parts.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], made_from)):
            if len(self._parts) >= self.MAX:
                self._parts.clear()
            hit = self._parts[key] = (made_from, self._render(made_from))
        return self._steps(page, hit[1])

    @staticmethod
    def _render(made_from: tuple[Any, ...]) -> SimpleNamespace:
        product, batch, coop, diary, certificates, outlets = made_from
        macros: Any = current_app.jinja_env.get_template("_macros.html").module
        # Keyed by identity: the entry keeps `diary` alive, so no other object can take an id.
        return SimpleNamespace(facts=macros.facts_rows(product, batch, coop),
                               lines={id(step): macros.timeline_item(step) for step in diary},
                               about=macros.about(certificates, outlets, coop, map_url(coop) if coop else None))

    @staticmethod
    def _steps(page: history.Page, parts: SimpleNamespace) -> SimpleNamespace:
        lines = parts.lines
        return SimpleNamespace(facts=parts.facts, about=parts.about,
                               steps=[lines.get(id(step), step) for step in page.steps])


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
    return render(template, **context), status


def render(template: str, **context: Any) -> str:
    """A public page: Jinja without Flask's context processors. These templates use no
    signed-in user, session or config, and the processors' user lookup (Flask-Login) was
    ~10 % of a stamp page's CPU. `request` and the environment's globals are there."""
    return current_app.jinja_env.get_template(template).render(request=request, **context)


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
    if dl.serial:
        return _stamp(dl.serial, gtin=dl.gtin, lot=dl.lot)
    product = history.find_product(db(), dl.gtin)
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
    return _stamp(serial)


INSPECTOR_ROLES = ("inspector", "admin")


def _inspector() -> Any:
    """The signed-in inspector (or admin) looking at the page, else None. A consumer's phone
    sends no session cookie, so the public path never loads a user."""
    if current_app.config.get("SESSION_COOKIE_NAME", "session") not in request.cookies:
        return None
    from hub.auth import current_user
    if current_user.is_authenticated and current_user.role in INSPECTOR_ROLES:
        return current_user
    return None


@bp.post("/01/<path:rest>")
@bp.post("/t/<serial>")
@bp.post("/T/<serial>")
def record_inspection(rest: str | None = None, serial: str | None = None):  # type: ignore[no-untyped-def]
    """The inspector's button on the stamp page: an `inspected` event (CSRF-checked form)."""
    from hub.auth import audit, current_user, roles_required
    from hub.ops.registry import Refused
    from hub.ops.registry import record_inspection as record

    @roles_required(*INSPECTOR_ROLES)
    def post():  # type: ignore[no-untyped-def]
        raw = serial
        if rest is not None:
            try:
                raw = gs1.parse_path(request.host, "/01/" + rest, "").serial
            except gs1.GS1Error as exc:
                return bad_request(str(exc))
        if not raw:
            return bad_request("no serial (AI 21) in the path")
        s = db()
        try:
            stamp, _event = record(s, raw, request.form.get("result", ""), request.form.get("note", ""),
                                   current_user.username)
            audit("inspect", "stamp", stamp.serial, result=request.form.get("result"))
            s.commit()
            flash(_("Inspection recorded."))
        except Refused as exc:
            s.rollback()
            flash(str(exc))
        return redirect(request.path, code=303)

    return post()


def _stamp(raw: str, gtin: str | None = None, lot: str | None = None):  # type: ignore[no-untyped-def]
    try:
        serial = codes.normalize(raw)
    except codes.CodeError as exc:
        return not_tem(raw, str(exc))
    facts: PageFacts = current_app.extensions["tem.page_facts"]
    # The hot path: one indexed read in autocommit (no BEGIN/COMMIT round trips, no ORM);
    # the batch, product, producer, diary, stalls and stations come from the process cache.
    with current_app.extensions["tem.read_engine"].connect() as conn:
        rows = conn.execute(_PAGE_SQL, {"serial": serial}).all()
        stamp = next((r for r in rows if r.row == "stamp"), None)
        if stamp is None or (gtin and stamp.gtin and stamp.gtin != gtin):
            return not_tem(codes.grouped(serial) if len(serial) == codes.SERIAL_LENGTH else raw)
        batch = product = None
        if stamp.batch_id is not None:
            # Every batch in one read per process (a few thousand rows a year), not one per batch:
            # each worker would otherwise pay a cold read for each of thousands of batches.
            batch = facts.get("batches", 0, _all_batches, conn).get(stamp.batch_id) \
                or facts.get("batch", stamp.batch_id, lambda c: _batch_facts(c, stamp.batch_id), conn)
            product = batch.product
        elif stamp.gtin is not None:  # else a pre-printed roll stamp not yet bound to any product
            product = facts.get("product", stamp.gtin, lambda c: _product_facts(c, stamp.gtin), conn)
        if lot and batch is not None and batch.lot.upper() != lot.upper():
            return not_tem(codes.grouped(serial), "lot")
        if _link_type() or _wants_linkset():
            if product is None:
                return not_tem(codes.grouped(serial), "unbound")
            return _item(product, batch.lot if batch else None, None, None, serial=serial)
        events = [r for r in rows if r.row == "event"]
        known = facts.get("stations", 0, _all_stations, conn)
        stations = {sid: known.get(sid) or facts.get("station", sid, lambda c, sid=sid: _station_facts(c, sid), conn)
                    for sid in {e.station_id for e in events}}
        inspector = _inspector() if request.method == "GET" else None
        page = _stamp_page(conn, facts, stamp, batch, product, events, stations, record=inspector is None)
        inspection = _inspection(conn, stamp) if inspector is not None else None
    if page.suspicion is not None:
        s = db()
        history.raise_clone_alert(s, stamp, page.suspicion)
        s.commit()
    context = _context(page)
    parts = current_app.extensions["tem.page_parts"].get(page)
    response = _html(render("stamp.html", grouped=codes.grouped(serial), inspection=inspection,
                                     parts=parts, **context),
                     product, batch.lot if batch else None, serial)
    response.headers["Cache-Control"] = "private, no-store"  # every view is a check
    return response


_stamp_t = Stamp.__table__
_event_t = Event.__table__


def _stamp_row():  # type: ignore[no-untyped-def]
    c, e = _stamp_t.c, _event_t.c
    return select(literal("stamp").label("row"), c.id, c.gtin, c.state, c.batch_id, c.activated_at, c.sold_at,
                  c.void_reason, c.checks, c.serial,
                  *[cast(null(), col.type).label(col.name) for col in (e.at, e.type, e.station_id, e.body)]) \
        .where(c.serial == bindparam("serial"))


def _events_of(checked: bool, limit: int):  # type: ignore[no-untyped-def]
    c, e = _stamp_t.c, _event_t.c
    kind = e.type == "checked" if checked else e.type != "checked"
    nothing = [cast(null(), col.type).label(col.name) for col in
               (c.id, c.gtin, c.state, c.batch_id, c.activated_at, c.sold_at, c.void_reason, c.checks)]
    inner = (select(e.at, e.type, e.station_id, e.body)
             .where(e.serial == bindparam("serial"), e.applied.is_(True), kind)
             .order_by(e.at.desc() if checked else e.at).limit(limit).subquery())
    return select(literal("event").label("row"), *nothing, literal(None, e.serial.type).label("serial"),
                  inner.c.at, inner.c.type, inner.c.station_id, inner.c.body)


# One round trip per page (on a busy machine each round trip waits for the database process
# to be scheduled): the stamp's row, its own events (reprints, inspections, sale) and its most
# recent checks, both bounded; the newest check also gives the "last checked" time.
_PAGE_SQL = union_all(_stamp_row(), _events_of(False, history.TIMELINE_EVENTS),
                      _events_of(True, history.RECENT_CHECKS))


def _plain(row: Any, **extra: Any) -> SimpleNamespace:
    """A copy that outlives its connection (cached per process)."""
    return SimpleNamespace(**row._mapping, **extra)


def _product_facts(conn: Any, gtin: str) -> SimpleNamespace | None:
    p, c = Product.__table__, Cooperative.__table__
    row = conn.execute(select(p).where(p.c.gtin == gtin)).first()
    if row is None:
        return None
    coop = conn.execute(select(c).where(c.c.id == row.cooperative_id)).first()
    return _plain(row, cooperative=_plain(coop) if coop else None)


def _batch_facts(conn: Any, batch_id: int) -> SimpleNamespace:
    b, p, c = Batch.__table__, Product.__table__, Cooperative.__table__
    row = conn.execute(select(b).where(b.c.id == batch_id)).one()
    product = conn.execute(select(p).where(p.c.id == row.product_id)).one()
    coop = conn.execute(select(c).where(c.c.id == product.cooperative_id)).first()
    return _plain(row, product=_plain(product, cooperative=_plain(coop) if coop else None))


def _all_batches(conn: Any) -> dict[int, SimpleNamespace]:
    b, p, c = Batch.__table__, Product.__table__, Cooperative.__table__
    coops = {r.id: _plain(r) for r in conn.execute(select(c))}
    products = {r.id: _plain(r, cooperative=coops.get(r.cooperative_id)) for r in conn.execute(select(p))}
    return {r.id: _plain(r, product=products[r.product_id]) for r in conn.execute(select(b))}


def _all_stations(conn: Any) -> dict[str, SimpleNamespace]:
    st = Station.__table__
    return {r.id: _plain(r) for r in conn.execute(select(st.c.id, st.c.name, st.c.place, st.c.province, st.c.lat,
                                                         st.c.lon))}


def _station_facts(conn: Any, station_id: str) -> SimpleNamespace | None:
    st = Station.__table__
    row = conn.execute(select(st.c.id, st.c.name, st.c.place, st.c.province, st.c.lat, st.c.lon)
                       .where(st.c.id == station_id)).first()
    return _plain(row) if row else None


def _batch_mean(conn: Any, batch_id: int) -> float | None:
    st = _stamp_t.c
    mean = conn.execute(select(func.avg(st.checks)).where(st.batch_id == batch_id)).scalar()
    return float(mean) if mean is not None else None


def _diary(conn: Any, batch_id: int) -> list[history.Step]:
    d = DiaryEntry.__table__.c
    rows = conn.execute(select(d.day, d.stage, d.recorded_by, d.who, d.place, d.note, d.station_id)
                        .where(d.batch_id == batch_id).order_by(d.day, d.id).limit(history.DIARY_MAX))
    return [history.Step(at=r.day, kind=r.stage, source="device" if r.recorded_by == "device" else "person",
                         who=r.who, place=r.place, note=r.note, station_id=r.station_id or "") for r in rows]


def _all_certificates(conn: Any) -> dict[int, list[SimpleNamespace]]:
    c = Certificate.__table__.c
    out: dict[int, list[SimpleNamespace]] = {}
    for r in conn.execute(select(c.product_id, c.kind, c.number, c.issuer, c.stars, c.valid_from, c.valid_to, c.url)
                          .order_by(c.product_id, c.kind, c.id)):
        out.setdefault(r.product_id, []).append(_plain(r))
    return out


def _stalls(conn: Any, batch_id: int) -> list[SimpleNamespace]:
    """Where to buy: stalls whose stations checked or sold stamps of the batch."""
    return [_plain(r) for r in conn.execute(outlets.stalls([batch_id]))]


def _inspection(conn: Any, stamp: Any) -> SimpleNamespace:
    """What an inspector sees on top: every event of the stamp with its device, and the
    batch's registered / printed / activated / checked counts."""
    e, st = _event_t.c, _stamp_t.c
    events = conn.execute(select(e.at, e.type, e.station_id, e.seq, e.applied, e.refusal, e.body)
                          .where(e.serial == stamp.serial).order_by(e.at, e.received_at)
                          .limit(INSPECTOR_EVENTS)).all()
    counts = None
    if stamp.batch_id is not None:
        one = lambda cond: func.coalesce(func.sum(case((cond, 1), else_=0)), 0)  # noqa: E731
        row = conn.execute(select(func.count().label("stamps"), one(st.printed_at.is_not(None)).label("printed"),
                                  one(st.activated_at.is_not(None)).label("activated"),
                                  one(st.checks > 0).label("checked"),
                                  func.coalesce(func.sum(st.checks), 0).label("checks"))
                           .where(st.batch_id == stamp.batch_id)).one()
        quantity = conn.execute(select(Batch.__table__.c.quantity)
                                .where(Batch.__table__.c.id == stamp.batch_id)).scalar()
        counts = SimpleNamespace(registered=quantity, **row._mapping)
    return SimpleNamespace(events=events, counts=counts, limit=INSPECTOR_EVENTS)


INSPECTOR_EVENTS = 500
_NO_CERTIFICATES: list[Any] = []  # never changed


def _stamp_page(conn: Any, facts: PageFacts, stamp: Any, batch: Any, product: Any, events: list[Any],
                stations: dict[str, Any], record: bool = True) -> history.Page:
    """The verdict and timeline of one stamp from its rows; records this view as a check
    (`record`: not for an inspector at work)."""
    checks = [e for e in events if e.type == "checked"]
    recent = [clones.Check(at=history._aware(e.at), station_id=e.station_id,
                           place=(e.body or {}).get("place") or getattr(stations.get(e.station_id), "place", ""),
                           province=getattr(stations.get(e.station_id), "province", "") or "",
                           lat=getattr(stations.get(e.station_id), "lat", None),
                           lon=getattr(stations.get(e.station_id), "lon", None)) for e in checks]
    count = stamp.checks
    last_check = max((c.at for c in recent), default=None)
    if record and request.method == "GET" and first_check(stamp.serial):
        now = utcnow()
        recorder: CheckRecorder = current_app.extensions["tem.checks"]
        count += 1 + recorder.pending(stamp.serial)
        recorder.record(stamp.id, stamp.serial, stamp.state, now)
        last_check = now
    suspicion = None
    if stamp.state != "void":
        suspicion = clones.far_apart(recent)
        if suspicion is None and count > clones.MIN_CHECKS:
            mean = None
            if stamp.batch_id is not None:  # only reached for heavily checked stamps
                mean = facts.get("batch_mean", stamp.batch_id, lambda c: _batch_mean(c, stamp.batch_id), conn)
            suspicion = clones.too_many(count, mean)
    page = history.Page(product=product, batch=batch, stamp=stamp, suspicion=suspicion,
                        verdict=history.verdict_for(stamp, suspicion))
    devices = {sid for sid, st in stations.items() if st is not None} | {history.WEB_STATION}
    steps = []
    for e in events:
        if e.type == "checked":
            continue
        body, st = e.body or {}, stations.get(e.station_id)
        note = body.get("reason") or body.get("result") or body.get("note") or ""
        steps.append(history.Step(at=history._aware(e.at), kind=e.type, station_id=e.station_id,
                                  source="device" if e.station_id in devices else "person",
                                  who=body.get("by", "") or (st.name if st else e.station_id),
                                  place=body.get("place") or (st.place if st else ""), note=str(note)))
    if count and last_check is not None:
        steps.append(history.Step(at=history._aware(last_check), kind="checked", source="device", count=count))
    if batch is not None:
        batch_id = batch.id
        page.diary = facts.get("diary", batch_id, lambda c: _diary(c, batch_id), conn)
        steps += page.diary
        page.outlets = facts.get("outlets", batch_id, lambda c: _stalls(c, batch_id), conn)
    page.steps = sorted(steps, key=lambda step: step.sort_key)
    if product is not None:
        product_id = product.id
        # One shared empty list: the batch's cached parts are kept while this is the same object.
        page.certificates = facts.get("certificates", 0, _all_certificates, conn).get(product_id, _NO_CERTIFICATES)
    return page


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
    response = _html(render(template, **_context(page)), product, lot, serial)
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

