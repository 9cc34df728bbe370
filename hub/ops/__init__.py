"""The operator console (/ops): registry, stamps, device fleet, commands and config,
alerts, reports. Views check who may see what and call hub.ops.registry for the work.

A cooperative manager sees only their cooperative: every lookup goes through
`_scoped_*`, which answers 404 for anything outside it (not 403, so ids do not leak)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.app import db
from hub.auth import audit, current_user, login_required, roles_required, scope_cooperative
from hub.models import (Alert, AuditLog, Batch, Certificate, Cooperative, DiaryEntry, DiaryRevision, Event, Product,
                        Quarantine, Stamp, StampBlock, Station, StationCommand, StationConfigPush, utcnow)
from hub.ops import registry
from hub.ops.registry import Refused
from hub.publisher import PublishError, for_app
from tem import messages

bp = Blueprint("ops", __name__, url_prefix="/ops")
WRITE = ("admin", "manager")
COMMANDS = ("test_print", "pause", "resume", "reload", "set_batch", "reprint", "void")
FLEET_PAGE = 100  # stations per dashboard page (and per live update)
CODES_PER_COMMAND = 1000  # 1000 serials ≈ 20 KB: well inside messages.MAX_BYTES
STATUS_LABELS = {"online": _l("online"), "offline": _l("offline"), "silent": _l("silent")}


@bp.before_request
@login_required
def _signed_in() -> None:
    """Every page here needs a signed-in person."""


def _keyring():  # type: ignore[no-untyped-def]
    return current_app.extensions["tem.keyring"]


def _media_dir():  # type: ignore[no-untyped-def]
    from pathlib import Path
    return Path(current_app.instance_path) / "media"


def _interval() -> float:
    return _interval_for(current_app)


def _interval_for(app) -> float:  # type: ignore[no-untyped-def]
    return float(app.config.get("TEM_TELEMETRY_INTERVAL_S", 10))


# -- scoping ------------------------------------------------------------------------------------

def _coops(s: Session) -> list[Cooperative]:
    q = select(Cooperative).order_by(Cooperative.name)
    scope = scope_cooperative()
    if scope is not None:
        q = q.where(Cooperative.id == scope)
    return list(s.scalars(q))


def _scoped_coop(s: Session, coop_id: int) -> Cooperative:
    coop = s.get(Cooperative, coop_id)
    scope = scope_cooperative()
    if coop is None or (scope is not None and coop.id != scope):
        abort(404)
    return coop


def _products(s: Session) -> list[Product]:
    q = select(Product).order_by(Product.name_vi)
    scope = scope_cooperative()
    if scope is not None:
        q = q.where(Product.cooperative_id == scope)
    return list(s.scalars(q))


def _scoped_product(s: Session, product_id: int) -> Product:
    product = s.get(Product, product_id)
    scope = scope_cooperative()
    if product is None or (scope is not None and product.cooperative_id != scope):
        abort(404)
    return product


def _scoped_batch(s: Session, batch_id: int) -> Batch:
    batch = s.get(Batch, batch_id)
    if batch is None:
        abort(404)
    _scoped_product(s, batch.product_id)
    return batch


def _stations(s: Session, page: int | None = None) -> list[Station]:
    q = select(Station).order_by(Station.id)
    scope = scope_cooperative()
    if scope is not None:
        q = q.where(Station.cooperative_id == scope)
    if page is not None:
        q = q.offset((page - 1) * FLEET_PAGE).limit(FLEET_PAGE)
    return list(s.scalars(q))


def _fleet_page() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


def _scoped_station(s: Session, station_id: str) -> Station:
    st = s.get(Station, station_id)
    scope = scope_cooperative()
    if st is None or (scope is not None and st.cooperative_id != scope):
        abort(404)
    return st


def _scoped_block(s: Session, block_id: int) -> StampBlock:
    block = s.get(StampBlock, block_id)
    scope = scope_cooperative()
    if block is None or (scope is not None and block.cooperative_id != scope):
        abort(404)
    return block


def _form_coop_id() -> int:
    """The cooperative a new thing belongs to: a manager's own, or the one an admin chose."""
    scope = scope_cooperative()
    if scope is not None:
        return scope
    try:
        return int(request.form.get("cooperative_id", ""))
    except ValueError:
        raise Refused(_("Choose a cooperative.")) from None


def _refused(exc: Refused) -> None:
    db().rollback()
    flash(str(exc), "error")


# -- fleet --------------------------------------------------------------------------------------

def _station_row(st: Station) -> dict[str, Any]:
    status, reason = registry.liveness(st, _interval())
    tele = st.telemetry or {}
    return {"id": st.id, "name": st.name, "kind": st.kind, "place": st.place, "status": status, "reason": reason,
            "status_label": str(STATUS_LABELS[status]),
            "last_seen": st.last_seen.isoformat() if st.last_seen else None,
            "config_version": st.config_version, "software": st.software,
            "printer": tele.get("printer"), "paper": tele.get("paper"),
            "codes_left": tele.get("codes_left"), "outbox": tele.get("outbox"), "queue": tele.get("queue"),
            "cpu_temp": tele.get("cpu_temp")}


@bp.route("/")
def dashboard() -> Any:
    s = db()
    page = _fleet_page()
    rows = [_station_row(st) for st in _stations(s, page)]  # a page at a time: a fleet of thousands stays quick
    open_alerts = _alert_query(s).where(Alert.resolved_at.is_(None))
    alerts = s.scalar(select(func.count()).select_from(open_alerts.subquery()))
    # Stamp counts are on the stamps page: counting tens of millions of rows on every
    # dashboard view would make the page operators keep open the slowest one.
    versions = _versions(s)
    pages = max(1, -(-sum(n for _sw, _cfg, n in versions) // FLEET_PAGE))
    return render_template("ops/dashboard.html", rows=rows, open_alerts=alerts, versions=versions, page=page,
                           pages=pages)


def _versions(s: Session) -> list[tuple[str | None, int | None, int]]:
    """How many stations run each software and config version (the operator's rollout view)."""
    q = (select(Station.software, Station.config_version, func.count()).group_by(Station.software,
         Station.config_version).order_by(func.count().desc(), Station.software, Station.config_version))
    scope = scope_cooperative()
    if scope is not None:
        q = q.where(Station.cooperative_id == scope)
    return [(sw, cfg, n) for sw, cfg, n in s.execute(q)]


@bp.route("/fleet.json")
def fleet_json() -> Any:
    s = db()
    return jsonify(at=utcnow().isoformat(), page=_fleet_page(),
                   stations=[_station_row(st) for st in _stations(s, _fleet_page())])


@bp.route("/stations/<station_id>")
def station_page(station_id: str) -> Any:
    s = db()
    st = _scoped_station(s, station_id)
    events = list(s.scalars(select(Event).where(Event.station_id == st.id).order_by(Event.received_at.desc())
                            .limit(50)))
    commands = list(s.scalars(select(StationCommand).where(StationCommand.station_id == st.id)
                              .order_by(StationCommand.sent_at.desc()).limit(20)))
    results = _command_results(s, st.id, [c.id for c in commands])
    pushes = list(s.scalars(select(StationConfigPush).where(StationConfigPush.station_id == st.id)
                            .order_by(StationConfigPush.version.desc()).limit(10)))
    window = request.args.get("window", "24h")
    charts = _telemetry_charts(s, st.id, window if window in WINDOWS else "24h")
    return render_template("ops/station.html", st=st, row=_station_row(st), events=events, commands=commands,
                           results=results, pushes=pushes, command_names=COMMANDS,
                           batches=_station_batches(s, st), charts=charts, window=window, windows=WINDOWS)


WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}
CHART_SERIES = ("codes_left", "outbox", "queue", "cpu_temp", "decode_rate")
CHART_W, CHART_H, CHART_POINTS = 600, 80, 300


def _telemetry_charts(s: Session, station_id: str, window: str) -> list[dict[str, Any]]:
    """Line charts (inline SVG points) of the station's telemetry over the window, at most
    CHART_POINTS points a series: enough for a trend, cheap with a sample every 10 s."""
    from hub.models import TelemetrySample, aware
    now = utcnow()
    since = now - WINDOWS[window]
    rows = s.execute(select(TelemetrySample.at, TelemetrySample.body).where(
        TelemetrySample.station_id == station_id, TelemetrySample.at >= since).order_by(TelemetrySample.at)
        .limit(100_000)).all()
    stride = max(1, len(rows) // CHART_POINTS)
    rows = rows[::stride]
    span = WINDOWS[window].total_seconds()
    charts = []
    for name in CHART_SERIES:
        pts = [((aware(at) - since).total_seconds(), float(body[name])) for at, body in rows
               if isinstance(body.get(name), (int, float))]
        if not pts:
            continue
        top = max(v for _, v in pts) or 1.0
        points = " ".join(f"{x / span * CHART_W:.1f},{CHART_H - v / top * (CHART_H - 4):.1f}" for x, v in pts)
        charts.append({"name": name, "max": top, "last": pts[-1][1], "points": points})
    return charts


def _station_batches(s: Session, st: Station) -> list[Batch]:
    q = select(Batch).join(Product).order_by(Batch.id.desc()).limit(50)
    if st.cooperative_id is not None:
        q = q.where(Product.cooperative_id == st.cooperative_id)
    return list(s.scalars(q))


def _command_results(s: Session, station_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for ev in s.scalars(select(Event).where(Event.station_id == station_id, Event.type == "command_result")
                        .order_by(Event.received_at.desc()).limit(500)):
        cid = str((ev.body or {}).get("command", ""))
        if cid in ids and cid not in found:
            found[cid] = {"ok": ev.body.get("ok"), "message": ev.body.get("message", ""), "at": ev.at}
    return found


@bp.route("/stations/<station_id>/commands.json")
def station_commands_json(station_id: str) -> Any:
    s = db()
    st = _scoped_station(s, station_id)
    commands = list(s.scalars(select(StationCommand).where(StationCommand.station_id == st.id)
                              .order_by(StationCommand.sent_at.desc()).limit(20)))
    results = _command_results(s, st.id, [c.id for c in commands])
    return jsonify(station=_station_row(st), commands=[
        {"id": c.id, "name": c.name, "sent_at": c.sent_at.isoformat(),
         "result": {**results[c.id], "at": results[c.id]["at"].isoformat()} if c.id in results else None}
        for c in commands])


def command_args(s: Session, name: str, form: Any) -> dict[str, Any]:
    """A command's arguments from a form or JSON body, checked before anything is sent."""
    if name == "set_batch":
        lot = str(form.get("lot") or "").strip()
        if not lot or len(lot) > 20:
            raise Refused(_("Choose a lot (1-20 characters)."))
        return {"lot": lot}
    if name in ("reprint", "void"):
        from tem import codes
        try:
            serial = codes.normalize(str(form.get("serial") or ""))
        except codes.CodeError as exc:
            raise Refused(_("not a stamp code: %(why)s", why=str(exc))) from None
        scope = scope_cooperative()
        if scope is not None and s.scalar(select(Stamp.id).join(Product, Product.gtin == Stamp.gtin).where(
                Stamp.serial == serial, Product.cooperative_id == scope)) is None:
            raise Refused(_("stamp %(serial)s belongs to another cooperative", serial=serial))
        if name == "void":
            reason = str(form.get("reason") or "")
            if reason not in registry.VOID_REASONS:
                raise Refused(_("reason must be one of %(choices)s", choices=", ".join(registry.VOID_REASONS)))
            return {"serial": serial, "reason": reason}
        return {"serial": serial}
    return {}


def send_command(s: Session, st: Station, name: str, args: dict[str, Any]) -> StationCommand:
    """Record and publish a command (QoS 1); raises PublishError with nothing stored when the broker refuses."""
    cmd = messages.Command(name=name, args=args)  # type: ignore[arg-type]
    row = StationCommand(id=str(cmd.id), station_id=st.id, name=name, args=args if name != "add_codes" else
                         {"gtin": args.get("gtin"), "count": len(args.get("serials", []))},
                         sent_by=current_user.username)
    s.add(row)
    s.flush()
    for_app(current_app).command(st.id, cmd)
    return row


@bp.route("/stations/<station_id>/command", methods=["POST"])
@roles_required(*WRITE)
def station_command(station_id: str) -> Any:
    s = db()
    st = _scoped_station(s, station_id)
    name = request.form.get("name", "")
    if name not in COMMANDS:
        flash(_("Unknown command."), "error")
        return redirect(url_for(".station_page", station_id=st.id))
    try:
        args = command_args(s, name, request.form)
    except Refused as exc:
        _refused(exc)
        return redirect(url_for(".station_page", station_id=st.id))
    try:
        row = send_command(s, st, name, args)
        audit("command", "station", st.id, cooperative_id=st.cooperative_id, command=name, id=row.id, args=args)
        s.commit()
        flash(_("Command %(name)s sent; waiting for the station's answer.", name=name))
    except PublishError as exc:
        s.rollback()
        flash(_("The command was not sent: %(why)s", why=str(exc)), "error")
    return redirect(url_for(".station_page", station_id=st.id))


@bp.route("/stations/<station_id>/config", methods=["POST"])
@roles_required(*WRITE)
def station_config(station_id: str) -> Any:
    s = db()
    st = _scoped_station(s, station_id)
    fmt = request.form.get("format", "toml")
    try:
        config = registry.parse_config_text(request.form.get("config", ""), "json" if fmt == "json" else "toml")
        registry.check_config(st, config)
        version = registry.next_config_version(s, st)
        s.add(StationConfigPush(station_id=st.id, version=version, config=config, pushed_by=current_user.username))
        audit("push_config", "station", st.id, cooperative_id=st.cooperative_id, version=version)
        s.flush()
        for_app(current_app).config(st.id, messages.ConfigMessage(version=version, config=config))
        s.commit()
        flash(_("Config version %(v)s pushed.", v=version))
    except Refused as exc:
        _refused(exc)
    except PublishError as exc:
        s.rollback()
        flash(_("The config was not sent: %(why)s", why=str(exc)), "error")
    return redirect(url_for(".station_page", station_id=st.id))


@bp.route("/stations/<station_id>/enrol", methods=["POST"])
@roles_required("admin")
def station_enrol(station_id: str) -> Any:
    """A one-time enrolment code for the station, shown on this page only (never stored)."""
    from hub import enrol
    s = db()
    st = _scoped_station(s, station_id)
    host, port, ca_file = current_app.extensions["tem.settings"].station_broker
    try:
        ca_pem = ca_file.read_text() if ca_file else None
    except OSError as exc:
        flash(_("Cannot read the broker CA certificate (TEM_STATION_TLS_CA): %(why)s", why=exc.strerror), "error")
        return redirect(url_for(".station_page", station_id=st.id))
    code, expires = enrol.issue(s, st, mqtt_host=host, mqtt_port=port, ca_pem=ca_pem, by=current_user.username)
    audit("enrolment_code", "station", st.id, cooperative_id=st.cooperative_id, expires=expires.isoformat())
    s.commit()
    response = current_app.make_response(render_template(
        "ops/enrol_code.html", st=st, code=code, expires=expires, hub=request.url_root.rstrip("/"),
        mqtt_host=host, mqtt_port=port))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- cooperatives -------------------------------------------------------------------------------

@bp.route("/cooperatives", methods=["GET", "POST"])
def cooperatives() -> Any:
    s = db()
    if request.method == "POST":
        if not current_user.is_admin:
            abort(403)
        try:
            coop = registry.save_cooperative(s, request.form)
            audit("create", "cooperative", coop.id, cooperative_id=coop.id, name=coop.name)
            s.commit()
            flash(_("Cooperative saved."))
            return redirect(url_for(".cooperatives"))
        except Refused as exc:
            _refused(exc)
    return render_template("ops/cooperatives.html", coops=_coops(s))


@bp.route("/cooperatives/<int:coop_id>", methods=["GET", "POST"])
def cooperative(coop_id: int) -> Any:
    s = db()
    coop = _scoped_coop(s, coop_id)
    if request.method == "POST":
        if not current_user.can_write:
            abort(403)
        try:
            registry.save_cooperative(s, request.form, coop)
            audit("update", "cooperative", coop.id, cooperative_id=coop.id, fields=dict(request.form.items()))
            s.commit()
            flash(_("Cooperative saved."))
            return redirect(url_for(".cooperative", coop_id=coop.id))
        except Refused as exc:
            _refused(exc)
            coop = _scoped_coop(s, coop_id)
    return render_template("ops/cooperative.html", coop=coop)


# -- products -----------------------------------------------------------------------------------

def _product_form() -> dict[str, Any]:
    return {k: request.form.get(k, "") for k in ("gtin", "name_vi", "name_en", "category")}


@bp.route("/products", methods=["GET", "POST"])
def products() -> Any:
    s = db()
    form: dict[str, Any] = {}
    if request.method == "POST":
        if not current_user.can_write:
            abort(403)
        form = _product_form()
        try:
            coop_id = _form_coop_id()
            _scoped_coop(s, coop_id)
            product = registry.save_product(s, form, coop_id, scope=scope_cooperative())
            audit("create", "product", product.id, cooperative_id=coop_id, gtin=product.gtin)
            s.commit()
            flash(_("Product %(gtin)s saved.", gtin=product.gtin))
            return redirect(url_for(".products"))
        except Refused as exc:
            _refused(exc)
    return render_template("ops/products.html", products=_products(s), coops=_coops(s), form=form)


@bp.route("/products/import", methods=["POST"])
@roles_required(*WRITE)
def products_import() -> Any:
    s = db()
    try:
        coop_id = _form_coop_id()
        _scoped_coop(s, coop_id)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise Refused(_("Choose a CSV file."))
        made = registry.import_products(s, upload.read(), coop_id, scope=scope_cooperative())
        audit("import", "product", "", cooperative_id=coop_id, gtins=[p.gtin for p in made])
        s.commit()
        flash(_("%(n)s products imported.", n=len(made)))
    except Refused as exc:
        _refused(exc)
    return redirect(url_for(".products"))


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
def product(product_id: int) -> Any:
    s = db()
    p = _scoped_product(s, product_id)
    if request.method == "POST":
        if not current_user.can_write:
            abort(403)
        try:
            registry.save_product(s, _product_form(), p.cooperative_id, p, scope=scope_cooperative())
            photo = request.files.get("photo")
            if photo and photo.filename:
                p.photo_url = url_for("auth.media", name=registry.save_photo(_media_dir(), photo.read()))
            audit("update", "product", p.id, cooperative_id=p.cooperative_id, fields=_product_form(),
                  photo=p.photo_url)
            s.commit()
            flash(_("Product %(gtin)s saved.", gtin=p.gtin))
            return redirect(url_for(".product", product_id=p.id))
        except Refused as exc:
            _refused(exc)
            p = _scoped_product(s, product_id)
    batches = list(s.scalars(select(Batch).where(Batch.product_id == p.id).order_by(Batch.id.desc())))
    certs = list(s.scalars(select(Certificate).where(Certificate.product_id == p.id).order_by(Certificate.id)))
    return render_template("ops/product.html", p=p, batches=batches, certs=certs, cert_kinds=registry.CERT_KINDS,
                           today=dt.date.today())


@bp.route("/products/<int:product_id>/certificates", methods=["POST"])
@roles_required(*WRITE)
def certificate_add(product_id: int) -> Any:
    s = db()
    p = _scoped_product(s, product_id)
    try:
        cert = registry.add_certificate(s, p, request.form)
        audit("create", "certificate", cert.id, cooperative_id=p.cooperative_id, product=p.id, kind=cert.kind)
        s.commit()
        flash(_("Certificate saved."))
    except Refused as exc:
        _refused(exc)
    return redirect(url_for(".product", product_id=product_id))


@bp.route("/certificates/<int:cert_id>/delete", methods=["POST"])
@roles_required(*WRITE)
def certificate_delete(cert_id: int) -> Any:
    s = db()
    cert = s.get(Certificate, cert_id)
    if cert is None:
        abort(404)
    p = _scoped_product(s, cert.product_id)
    audit("delete", "certificate", cert.id, cooperative_id=p.cooperative_id, product=p.id, kind=cert.kind,
          number=cert.number, issuer=cert.issuer, valid_from=str(cert.valid_from), valid_to=str(cert.valid_to))
    s.delete(cert)
    s.commit()
    flash(_("Certificate removed; the audit log keeps its details."))
    return redirect(url_for(".product", product_id=p.id))


# -- batches and diary --------------------------------------------------------------------------

@bp.route("/batches", methods=["GET", "POST"])
def batches() -> Any:
    s = db()
    if request.method == "POST":
        if not current_user.can_write:
            abort(403)
        try:
            try:
                p = _scoped_product(s, int(request.form.get("product_id", "")))
            except ValueError:
                raise Refused(_("Choose a product.")) from None
            batch = registry.save_batch(s, request.form, p)
            audit("create", "batch", batch.id, cooperative_id=p.cooperative_id, lot=batch.lot)
            s.commit()
            flash(_("Batch %(lot)s saved.", lot=batch.lot))
            return redirect(url_for(".batch", batch_id=batch.id))
        except Refused as exc:
            _refused(exc)
    q = select(Batch).join(Product).order_by(Batch.id.desc()).limit(200)
    scope = scope_cooperative()
    if scope is not None:
        q = q.where(Product.cooperative_id == scope)
    return render_template("ops/batches.html", batches=list(s.scalars(q)), products=_products(s))


@bp.route("/batches/<int:batch_id>", methods=["GET", "POST"])
def batch(batch_id: int) -> Any:
    s = db()
    b = _scoped_batch(s, batch_id)
    if request.method == "POST":
        if not current_user.can_write:
            abort(403)
        try:
            registry.save_batch(s, request.form, b.product, b)
            audit("update", "batch", b.id, cooperative_id=b.product.cooperative_id, fields=dict(request.form.items()))
            s.commit()
            flash(_("Batch %(lot)s saved.", lot=b.lot))
            return redirect(url_for(".batch", batch_id=b.id))
        except Refused as exc:
            _refused(exc)
            b = _scoped_batch(s, batch_id)
    diary = list(s.scalars(select(DiaryEntry).where(DiaryEntry.batch_id == b.id).order_by(DiaryEntry.day)))
    revisions = list(s.scalars(select(DiaryRevision).where(DiaryRevision.batch_id == b.id)
                               .order_by(DiaryRevision.replaced_at.desc())))
    return render_template("ops/batch.html", b=b, diary=diary, revisions=revisions, stages=registry.STAGES)


@bp.route("/batches/<int:batch_id>/diary", methods=["POST"])
@roles_required(*WRITE)
def diary_add(batch_id: int) -> Any:
    s = db()
    b = _scoped_batch(s, batch_id)
    try:
        entry = registry.add_diary(s, b, request.form)
        audit("create", "diary_entry", entry.id, cooperative_id=b.product.cooperative_id, batch=b.id)
        s.commit()
        flash(_("Diary entry saved."))
    except Refused as exc:
        _refused(exc)
    return redirect(url_for(".batch", batch_id=batch_id))


@bp.route("/diary/<int:entry_id>", methods=["POST"])
@roles_required(*WRITE)
def diary_edit(entry_id: int) -> Any:
    s = db()
    entry = s.get(DiaryEntry, entry_id)
    if entry is None:
        abort(404)
    b = _scoped_batch(s, entry.batch_id)
    try:
        if request.form.get("delete"):
            registry.delete_diary(s, entry, current_user.username)
            audit("delete", "diary_entry", entry_id, cooperative_id=b.product.cooperative_id, batch=b.id)
        else:
            registry.edit_diary(s, entry, request.form, current_user.username)
            audit("update", "diary_entry", entry_id, cooperative_id=b.product.cooperative_id, batch=b.id)
        s.commit()
        flash(_("Diary entry saved; the earlier text is kept in the history."))
    except Refused as exc:
        _refused(exc)
    return redirect(url_for(".batch", batch_id=b.id))


# -- stamps -------------------------------------------------------------------------------------

@bp.route("/stamps")
def stamps() -> Any:
    s = db()
    q = select(StampBlock).order_by(StampBlock.id.desc()).limit(200)
    scope = scope_cooperative()
    if scope is not None:
        q = q.where(StampBlock.cooperative_id == scope)
    print_stations = [st for st in _stations(s) if st.kind == "print"]
    return render_template("ops/stamps.html", blocks=list(s.scalars(q)), counts=registry.stamp_counts(s, scope),
                           products=_products(s), stations=print_stations, coops=_coops(s),
                           reasons=registry.VOID_REASONS, max_block=registry.MAX_BLOCK)


@bp.route("/stamps/issue", methods=["POST"])
@roles_required(*WRITE)
def stamps_issue() -> Any:
    s = db()
    try:
        try:
            p = _scoped_product(s, int(request.form.get("product_id", "")))
            count = int(request.form.get("count", ""))
        except ValueError:
            raise Refused(_("Choose a product and a number of stamps.")) from None
        block = registry.issue_block(s, _keyring(), p, count, current_user.username)
        audit("issue", "stamp_block", block.id, cooperative_id=p.cooperative_id, count=count, gtin=p.gtin,
              first=block.first_serial, last=block.last_serial)
        s.commit()
        flash(_("%(n)s stamps issued: block #%(id)s.", n=count, id=block.id))
    except Refused as exc:
        _refused(exc)
    return redirect(url_for(".stamps"))


@bp.route("/stamps/roll", methods=["POST"])
@roles_required(*WRITE)
def stamps_roll() -> Any:
    s = db()
    try:
        coop_id = _form_coop_id()
        _scoped_coop(s, coop_id)
        block = registry.register_roll(s, _keyring(), coop_id, request.form.get("first", ""),
                                       request.form.get("last", ""), current_user.username)
        audit("register_roll", "stamp_block", block.id, cooperative_id=coop_id, first=block.first_serial,
              last=block.last_serial, count=block.count)
        s.commit()
        flash(_("Roll registered: block #%(id)s, %(n)s stamps.", id=block.id, n=block.count))
    except Refused as exc:
        _refused(exc)
    return redirect(url_for(".stamps"))


@bp.route("/stamps/blocks/<int:block_id>/allocate", methods=["POST"])
@roles_required(*WRITE)
def stamps_allocate(block_id: int) -> Any:
    s = db()
    block = _scoped_block(s, block_id)
    try:
        st = _scoped_station(s, request.form.get("station_id", ""))
        serials = registry.allocate(s, block, st)
        gtin = s.get(Product, block.product_id).gtin if block.product_id else None
        ids = []
        for i in range(0, len(serials), CODES_PER_COMMAND):
            ids.append(send_command(s, st, "add_codes", {"gtin": gtin, "serials": serials[i:i + CODES_PER_COMMAND]}).id)
        audit("allocate", "stamp_block", block.id, cooperative_id=block.cooperative_id, station=st.id,
              count=len(serials), commands=ids)
        s.commit()
        flash(_("%(n)s codes sent to station %(st)s.", n=len(serials), st=st.id))
    except Refused as exc:
        _refused(exc)
    except PublishError as exc:
        s.rollback()
        flash(_("The codes were not sent: %(why)s", why=str(exc)), "error")
    return redirect(url_for(".stamps"))


@bp.route("/stamps/blocks/<int:block_id>/sheet")
def stamps_sheet(block_id: int) -> Any:
    """Print-ready A4 sheets: a preview page, its PNG, or the PDF (at most sheets.MAX_PAGES pages a file)."""
    from flask import Response

    from hub.ops import sheets
    s = db()
    block = _scoped_block(s, block_id)
    product = s.get(Product, block.product_id) if block.product_id else None
    serials = registry.block_serials(s, block)
    caption = f"GTIN {product.gtin}" if product else ""
    host = current_app.config["PUBLIC_HOST"]
    part = max(1, request.args.get("part", 1, type=int))
    per_file = sheets.PER_PAGE * sheets.MAX_PAGES
    chunk = serials[(part - 1) * per_file:part * per_file]
    fmt = request.args.get("format")
    if fmt == "pdf":
        if not chunk:
            abort(404)
        return Response(sheets.pdf(chunk, product.gtin if product else None, host, caption),
                        mimetype="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="tem-block-{block.id}-{part}.pdf"'})
    if fmt == "png":
        return Response(sheets.preview_png(chunk, product.gtin if product else None, host, caption),
                        mimetype="image/png")
    parts = max(1, -(-len(serials) // per_file))
    return render_template("ops/sheet.html", block=block, product=product, parts=parts, count=len(serials),
                           per_page=sheets.PER_PAGE)


@bp.route("/stamps/void", methods=["POST"])
@roles_required(*WRITE)
def stamps_void() -> Any:
    s = db()
    try:
        n = registry.void_range(s, request.form.get("first", ""), request.form.get("last", ""),
                                request.form.get("reason", ""), current_user.username,
                                request.form.get("note", ""), cooperative_id=scope_cooperative())
        audit("void", "stamp_range", request.form.get("first", ""), cooperative_id=scope_cooperative(),
              last=request.form.get("last", ""), reason=request.form.get("reason", ""), count=n)
        s.commit()
        flash(_("%(n)s stamps voided.", n=n))
    except Refused as exc:
        _refused(exc)
    return redirect(url_for(".stamps"))


# -- inspections ---------------------------------------------------------------------------------

@bp.route("/inspect", methods=["GET", "POST"])
@roles_required("inspector", "admin")
def inspect() -> Any:
    s = db()
    if request.method == "POST":
        try:
            form = request.form
            stamp, _event = registry.record_inspection(s, form.get("serial", ""), form.get("result", ""),
                                                       form.get("note", ""), current_user.username)
            audit("inspect", "stamp", stamp.serial, result=request.form.get("result"))
            s.commit()
            flash(_("Inspection of %(serial)s recorded.", serial=stamp.serial))
        except Refused as exc:
            _refused(exc)
        return redirect(url_for(".inspect"))
    recent = list(s.scalars(select(Event).where(Event.type == "inspected").order_by(Event.at.desc()).limit(50)))
    return render_template("ops/inspect.html", recent=recent)


# -- alerts and quarantine ----------------------------------------------------------------------

def _alert_query(s: Session):  # type: ignore[no-untyped-def]
    q = select(Alert)
    scope = scope_cooperative()
    if scope is not None:
        # A manager's alerts: from their stations, or about their stamps (inspections, clones).
        q = q.where(or_(Alert.station_id.in_(select(Station.id).where(Station.cooperative_id == scope)),
                        Alert.serial.in_(select(Stamp.serial).join(Product, Product.gtin == Stamp.gtin)
                                         .where(Product.cooperative_id == scope))))
    return q


@bp.route("/alerts")
def alerts() -> Any:
    s = db()
    show = request.args.get("show", "open")
    q = _alert_query(s).order_by(Alert.created_at.desc()).limit(300)
    if show == "open":
        q = q.where(Alert.resolved_at.is_(None))
    quarantine = []
    if scope_cooperative() is None:
        quarantine = list(s.scalars(select(Quarantine).order_by(Quarantine.received_at.desc()).limit(100)))
    else:
        quarantine = list(s.scalars(select(Quarantine).where(Quarantine.station_id.in_(
            select(Station.id).where(Station.cooperative_id == scope_cooperative())))
            .order_by(Quarantine.received_at.desc()).limit(100)))
    return render_template("ops/alerts.html", alerts=list(s.scalars(q)), show=show, quarantine=quarantine)


@bp.route("/alerts/<int:alert_id>", methods=["POST"])
@roles_required(*WRITE)
def alert_action(alert_id: int) -> Any:
    s = db()
    alert = s.scalars(_alert_query(s).where(Alert.id == alert_id)).first()
    if alert is None:
        abort(404)
    action = request.form.get("action")
    now = utcnow()
    if action == "acknowledge" and alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, current_user.username
    elif action == "resolve" and alert.resolved_at is None:
        alert.resolved_at, alert.resolved_by = now, current_user.username
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = now, current_user.username
    else:
        flash(_("Nothing to do."), "error")
        return redirect(url_for(".alerts"))
    audit(action, "alert", alert.id, kind=alert.kind)
    s.commit()
    return redirect(url_for(".alerts"))


# -- reports and exports ------------------------------------------------------------------------

@bp.route("/reports")
def reports_page() -> Any:
    from flask import Response

    from hub import reports
    s = db()
    group = request.args.get("group", "product")
    error = None
    try:
        if group not in reports.GROUPS:
            raise ValueError(group)
        start = reports.parse_day(request.args.get("start"))
        end = reports.parse_day(request.args.get("end"))
    except ValueError:
        group, start, end = "product", None, None
        error = _("Dates must be YYYY-MM-DD; the grouping product, cooperative or district.")
    report = reports.build(s, group, start, end, scope_cooperative())
    fmt = request.args.get("format", "html")
    name = f"tem-{group}-{start or 'all'}-{end or 'all'}"
    if fmt == "csv":
        return Response(reports.to_csv(report), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        return Response(reports.to_xlsx(report),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return render_template("ops/reports.html", report=report, metrics=reports.METRICS, groups=reports.GROUPS,
                           error=error, batches=_recent_batches(s))


def _recent_batches(s: Session) -> list[Batch]:
    q = select(Batch).join(Product).order_by(Batch.id.desc()).limit(200)
    scope = scope_cooperative()
    if scope is not None:
        q = q.where(Product.cooperative_id == scope)
    return list(s.scalars(q))


@bp.route("/reports/epcis")
def reports_epcis() -> Any:
    from flask import Response

    from hub import epcis, reports
    s = db()
    batch_id = request.args.get("batch", type=int)
    if batch_id is not None:
        _scoped_batch(s, batch_id)
    try:
        lo, hi = reports.day_range(request.args.get("start"), request.args.get("end"))
    except ValueError:
        abort(400)
    doc = epcis.document(s, current_app.config["PUBLIC_HOST"], batch_id=batch_id, start=lo, end=hi,
                         cooperative_id=scope_cooperative())
    import json
    return Response(json.dumps(doc, ensure_ascii=False, indent=1), mimetype="application/ld+json",
                    headers={"Content-Disposition": 'attachment; filename="tem-epcis.jsonld"'})


# -- settings -----------------------------------------------------------------------------------

def _instance():  # type: ignore[no-untyped-def]
    from pathlib import Path
    return Path(current_app.instance_path)


@bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
def settings_page() -> Any:
    """Alert e-mail: the SMTP server, sender and recipients; the password goes to the instance directory."""
    import os

    from hub.ops import mail
    s = db()
    if request.method == "POST":
        try:
            smtp = mail.parse_form(request.form)
        except mail.Invalid as exc:
            flash(str(exc), "error")
            return redirect(url_for(".settings_page"))
        mail.save(s, smtp, current_user.username)
        secret = request.form.get("password", "")
        if secret or request.form.get("forget_password"):
            mail.store_password(_instance(), secret)
        audit("update", "setting", mail.SETTING, **smtp.as_json(), password_changed=bool(
            secret or request.form.get("forget_password")))
        s.commit()
        flash(_("Alert e-mail settings saved.") if smtp.enabled else _("Alert e-mail is off."))
        return redirect(url_for(".settings_page"))
    password_from = ("env" if os.environ.get(mail.PASSWORD_ENV) else
                     "file" if mail.password(_instance()) else None)
    return render_template("ops/settings.html", smtp=mail.load(s), password_from=password_from,
                           password_env=mail.PASSWORD_ENV, single=mail.MAIL_SINGLE, per_hour=mail.MAIL_PER_HOUR)


@bp.route("/settings/test-mail", methods=["POST"])
@roles_required("admin")
def settings_test_mail() -> Any:
    from hub.ops import mail
    smtp = mail.load(db())
    try:
        mail.send(smtp, mail.password(_instance()), [mail.test_mail(smtp, current_user.username)])
        flash(_("Test e-mail sent to %(to)s.", to=", ".join(smtp.recipients)))
    except mail.MailError as exc:
        flash(_("The test e-mail was not sent: %(why)s", why=str(exc)), "error")
    return redirect(url_for(".settings_page"))


@bp.route("/audit")
@roles_required("admin")
def audit_log() -> Any:
    rows = list(db().scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(300)))
    return render_template("ops/audit.html", rows=rows)


def init_app(app) -> None:  # type: ignore[no-untyped-def]
    # Photos are the only uploads; anything larger is refused before a byte is stored.
    every = float(app.config.get("TEM_WATCH_S", 0 if app.testing else 15))
    if every > 0:  # the hub-side liveness timer (hub.ops.watch); 0 turns it off
        from hub.ops.mail import Mailer
        from hub.ops.watch import Watcher
        sessions = app.extensions["tem.sessions"]
        watcher = Watcher(sessions, every, _interval_for(app), webhook=app.config.get("TEM_ALERT_WEBHOOK") or None,
                          mailer=Mailer(sessions, app.extensions["tem.settings"].instance))
        watcher.thread.start()
        app.extensions["tem.watcher"] = watcher
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is "no limit"
        app.config["MAX_CONTENT_LENGTH"] = registry.MAX_PHOTO_BYTES + 64 * 1024
    app.register_blueprint(bp)

    @app.errorhandler(413)
    def _too_large(_exc: Any) -> Any:
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        if request.path.startswith("/api/"):
            return jsonify(error="too_large", message=f"the request is larger than {limit} MB"), 413
        return render_template("ops/error.html", code=413,
                               message=_("The file is too large: at most %(mb)s MB.", mb=limit)), 413

    @app.context_processor
    def _ops_helpers() -> dict[str, Any]:
        def ts(value: dt.datetime | None) -> str:
            if value is None:
                return "–"
            from flask_babel import format_datetime
            from hub.models import aware
            return format_datetime(aware(value), "yyyy-MM-dd HH:mm:ss")

        def alert_kind(kind: str) -> str:
            from hub import alertkinds, i18n
            return alertkinds.title(kind, i18n.lang())

        def station_kind(kind: str) -> str:
            return {"print": _("print line"), "activation": _("activation line"),
                    "stall": _("market stall")}.get(kind, kind)
        return {"ts": ts, "alert_kind": alert_kind, "station_kind": station_kind}

