"""JSON API (/api/v1) for scripts and other systems: bearer tokens only (a console
session cookie does not open it, so it needs no CSRF token), the same rules and
cooperative scoping as the console, described by /api/v1/openapi.json."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from hub import epcis, reports
from hub.app import db
from hub.auth import _load_from_token, audit, current_user, scope_cooperative
from hub.models import Alert, Batch, Cooperative, Product, StampBlock, StationCommand, StationConfigPush, utcnow
from hub.ops import (_alert_query, _coops, _command_results, _products, _scoped_batch, _scoped_block,
                     _scoped_coop, _scoped_product, _scoped_station, _station_row, _stations, command_args,
                     send_command)
from hub.ops import COMMANDS, registry
from hub.ops.registry import Refused
from hub.publisher import PublishError, for_app
from tem import messages

bp = Blueprint("api", __name__, url_prefix="/api/v1")
WRITE = ("admin", "manager")


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str = ""):
        self.status, self.error, self.message = status, error, message


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Any:
    return jsonify(error=exc.error, message=exc.message), exc.status


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> Any:
    db().rollback()
    return jsonify(error="refused", message=str(exc)), 422


@bp.errorhandler(404)
def _not_found(_exc: Any) -> Any:
    return jsonify(error="not_found"), 404


@bp.errorhandler(405)
def _not_allowed(_exc: Any) -> Any:
    return jsonify(error="method_not_allowed"), 405


@bp.before_request
def _token_only() -> Any:
    if request.endpoint == "api.openapi":
        return None
    principal = _load_from_token(request)
    if principal is None:
        return jsonify(error="unauthorized", message="send Authorization: Bearer <token>"), 401
    g._login_user = principal  # the token's user, whatever a session cookie says
    return None


def _write() -> None:
    if current_user.role not in WRITE:
        raise ApiError(403, "forbidden", "this token's user may only read")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "send a JSON object with Content-Type: application/json")
    return data


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value else None


def coop_json(c: Cooperative) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "address": c.address, "province": c.province, "district": c.district,
            "phone": c.phone, "gs1_prefix": c.gs1_prefix}


def product_json(p: Product) -> dict[str, Any]:
    return {"id": p.id, "gtin": p.gtin, "name_vi": p.name_vi, "name_en": p.name_en, "category": p.category,
            "cooperative_id": p.cooperative_id, "photo_url": p.photo_url}


def batch_json(b: Batch) -> dict[str, Any]:
    return {"id": b.id, "product_id": b.product_id, "lot": b.lot, "packed_on": _iso(b.packed_on),
            "expires_on": _iso(b.expires_on), "quantity": b.quantity, "place": b.place}


def block_json(b: StampBlock) -> dict[str, Any]:
    return {"id": b.id, "cooperative_id": b.cooperative_id, "product_id": b.product_id, "count": b.count,
            "first_serial": b.first_serial, "last_serial": b.last_serial, "station_id": b.station_id,
            "issued_at": _iso(b.issued_at)}


def alert_json(a: Alert) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "station_id": a.station_id, "serial": a.serial, "message": a.message,
            "created_at": _iso(a.created_at), "acknowledged_at": _iso(a.acknowledged_at),
            "resolved_at": _iso(a.resolved_at)}


@bp.route("/me")
def me() -> Any:
    return jsonify(username=current_user.username, role=current_user.role, cooperative_id=current_user.cooperative_id)


@bp.route("/cooperatives", methods=["GET", "POST"])
def cooperatives() -> Any:
    s = db()
    if request.method == "POST":
        if current_user.role != "admin":
            raise ApiError(403, "forbidden", "only an admin adds cooperatives")
        coop = registry.save_cooperative(s, _body())
        audit("create", "cooperative", coop.id, cooperative_id=coop.id, via="api")
        s.commit()
        return jsonify(coop_json(coop)), 201
    return jsonify([coop_json(c) for c in _coops(s)])


@bp.route("/cooperatives/<int:coop_id>")
def cooperative(coop_id: int) -> Any:
    return jsonify(coop_json(_scoped_coop(db(), coop_id)))


@bp.route("/products", methods=["GET", "POST"])
def products() -> Any:
    s = db()
    if request.method == "POST":
        _write()
        data = _body()
        coop_id = scope_cooperative()
        if coop_id is None:
            try:
                coop_id = int(data.get("cooperative_id"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise Refused("cooperative_id is required") from None
        _scoped_coop(s, coop_id)
        p = registry.save_product(s, data, coop_id, scope=scope_cooperative())
        audit("create", "product", p.id, cooperative_id=coop_id, gtin=p.gtin, via="api")
        s.commit()
        return jsonify(product_json(p)), 201
    return jsonify([product_json(p) for p in _products(s)])


@bp.route("/products/<int:product_id>")
def product(product_id: int) -> Any:
    return jsonify(product_json(_scoped_product(db(), product_id)))


@bp.route("/batches", methods=["GET", "POST"])
def batches() -> Any:
    s = db()
    if request.method == "POST":
        _write()
        data = _body()
        try:
            p = _scoped_product(s, int(data.get("product_id")))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise Refused("product_id is required") from None
        b = registry.save_batch(s, data, p)
        audit("create", "batch", b.id, cooperative_id=p.cooperative_id, lot=b.lot, via="api")
        s.commit()
        return jsonify(batch_json(b)), 201
    q = select(Batch).join(Product).order_by(Batch.id)
    if scope_cooperative() is not None:
        q = q.where(Product.cooperative_id == scope_cooperative())
    product_id = request.args.get("product_id", type=int)
    if product_id is not None:
        q = q.where(Batch.product_id == product_id)
    return jsonify([batch_json(b) for b in s.scalars(q)])


@bp.route("/batches/<int:batch_id>")
def batch(batch_id: int) -> Any:
    return jsonify(batch_json(_scoped_batch(db(), batch_id)))


@bp.route("/batches/<int:batch_id>/diary", methods=["POST"])
def diary(batch_id: int) -> Any:
    _write()
    s = db()
    b = _scoped_batch(s, batch_id)
    entry = registry.add_diary(s, b, _body())
    audit("create", "diary_entry", entry.id, cooperative_id=b.product.cooperative_id, batch=b.id, via="api")
    s.commit()
    return jsonify(id=entry.id, batch_id=b.id, stage=entry.stage, day=entry.day.isoformat(), note=entry.note), 201


@bp.route("/stations")
def stations() -> Any:
    return jsonify([_station_row(st) for st in _stations(db())])


@bp.route("/stations/<station_id>")
def station(station_id: str) -> Any:
    return jsonify(_station_row(_scoped_station(db(), station_id)))


@bp.route("/stations/<station_id>/commands", methods=["POST"])
def station_command(station_id: str) -> Any:
    _write()
    s = db()
    st = _scoped_station(s, station_id)
    data = _body()
    name = data.get("name")
    if name not in COMMANDS:
        raise Refused(f"name must be one of {', '.join(COMMANDS)}")
    args = command_args(s, name, data)
    try:
        row = send_command(s, st, name, args)
    except PublishError as exc:
        s.rollback()
        raise ApiError(503, "broker_unavailable", str(exc)) from None
    audit("command", "station", st.id, cooperative_id=st.cooperative_id, command=name, id=row.id, via="api")
    s.commit()
    return jsonify(id=row.id, name=name, station_id=st.id, result=None), 202


@bp.route("/stations/<station_id>/config", methods=["POST"])
def station_config(station_id: str) -> Any:
    """Push config sections (validated as the station will) as the next retained version."""
    _write()
    s = db()
    st = _scoped_station(s, station_id)
    config = _body()
    registry.check_config(st, config)
    version = registry.next_config_version(s, st)
    s.add(StationConfigPush(station_id=st.id, version=version, config=config, pushed_by=current_user.username))
    audit("push_config", "station", st.id, cooperative_id=st.cooperative_id, version=version, via="api")
    s.flush()
    try:
        for_app(current_app).config(st.id, messages.ConfigMessage(version=version, config=config))
    except PublishError as exc:
        s.rollback()
        raise ApiError(503, "broker_unavailable", str(exc)) from None
    s.commit()
    return jsonify(station_id=st.id, version=version, reported=st.config_version), 202


@bp.route("/stations/<station_id>/commands/<command_id>")
def station_command_result(station_id: str, command_id: str) -> Any:
    s = db()
    st = _scoped_station(s, station_id)
    row = s.get(StationCommand, command_id)
    if row is None or row.station_id != st.id:
        raise ApiError(404, "not_found")
    result = _command_results(s, st.id, [row.id]).get(row.id)
    if result:
        result = {**result, "at": _iso(result["at"])}
    return jsonify(id=row.id, name=row.name, station_id=st.id, sent_at=_iso(row.sent_at), result=result)


@bp.route("/stamps/counts")
def stamp_counts() -> Any:
    return jsonify(registry.stamp_counts(db(), scope_cooperative()))


@bp.route("/stamps/blocks", methods=["GET", "POST"])
def blocks() -> Any:
    s = db()
    if request.method == "POST":
        _write()
        data = _body()
        try:
            p = _scoped_product(s, int(data.get("product_id")))  # type: ignore[arg-type]
            count = int(data.get("count"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise Refused("product_id and count are required whole numbers") from None
        block = registry.issue_block(s, current_app.extensions["tem.keyring"], p, count, current_user.username)
        audit("issue", "stamp_block", block.id, cooperative_id=p.cooperative_id, count=count, via="api")
        s.commit()
        return jsonify(block_json(block)), 201
    q = select(StampBlock).order_by(StampBlock.id)
    if scope_cooperative() is not None:
        q = q.where(StampBlock.cooperative_id == scope_cooperative())
    return jsonify([block_json(b) for b in s.scalars(q)])


@bp.route("/stamps/blocks/<int:block_id>/allocate", methods=["POST"])
def allocate(block_id: int) -> Any:
    _write()
    s = db()
    block = _scoped_block(s, block_id)
    st = _scoped_station(s, str(_body().get("station_id", "")))
    serials = registry.allocate(s, block, st)
    gtin = s.get(Product, block.product_id).gtin if block.product_id else None
    try:
        ids = [send_command(s, st, "add_codes", {"gtin": gtin, "serials": serials[i:i + 1000]}).id
               for i in range(0, len(serials), 1000)]
    except PublishError as exc:
        s.rollback()
        raise ApiError(503, "broker_unavailable", str(exc)) from None
    audit("allocate", "stamp_block", block.id, cooperative_id=block.cooperative_id, station=st.id, via="api")
    s.commit()
    return jsonify(block=block_json(block), sent=len(serials), commands=ids)


@bp.route("/stamps/void", methods=["POST"])
def void() -> Any:
    _write()
    s = db()
    data = _body()
    n = registry.void_range(s, str(data.get("first", "")), str(data.get("last", "")), str(data.get("reason", "")),
                            current_user.username, str(data.get("note", "")), cooperative_id=scope_cooperative())
    audit("void", "stamp_range", data.get("first", ""), cooperative_id=scope_cooperative(), count=n, via="api")
    s.commit()
    return jsonify(voided=n)


@bp.route("/alerts")
def alerts() -> Any:
    s = db()
    q = _alert_query(s).order_by(Alert.created_at.desc()).limit(500)
    if request.args.get("open", "1") == "1":
        q = q.where(Alert.resolved_at.is_(None))
    return jsonify([alert_json(a) for a in s.scalars(q)])


@bp.route("/alerts/<int:alert_id>", methods=["POST"])
def alert_action(alert_id: int) -> Any:
    _write()
    s = db()
    alert = s.scalars(_alert_query(s).where(Alert.id == alert_id)).first()
    if alert is None:
        raise ApiError(404, "not_found")
    action = _body().get("action")
    now = utcnow()
    if action == "acknowledge":
        alert.acknowledged_at = alert.acknowledged_at or now
        alert.acknowledged_by = alert.acknowledged_by or current_user.username
    elif action == "resolve":
        alert.resolved_at, alert.resolved_by = alert.resolved_at or now, alert.resolved_by or current_user.username
        alert.acknowledged_at = alert.acknowledged_at or now
    else:
        raise Refused("action must be acknowledge or resolve")
    audit(action, "alert", alert.id, via="api")
    s.commit()
    return jsonify(alert_json(alert))


@bp.route("/reports")
def report() -> Any:
    try:
        group = request.args.get("group", "product")
        r = reports.build(db(), group, reports.parse_day(request.args.get("start")),
                          reports.parse_day(request.args.get("end")), scope_cooperative())
    except ValueError as exc:
        raise ApiError(400, "bad_request", f"{exc} (dates as YYYY-MM-DD)") from None
    return jsonify(group=r.group, start=_iso(r.start), end=_iso(r.end), totals=r.totals,
                   rows=[{"key": x.key, "label": x.label, **x.values} for x in r.rows])


@bp.route("/epcis")
def epcis_export() -> Any:
    s = db()
    batch_id = request.args.get("batch", type=int)
    if batch_id is not None:
        _scoped_batch(s, batch_id)
    try:
        lo, hi = reports.day_range(request.args.get("start"), request.args.get("end"))
    except ValueError:
        raise ApiError(400, "bad_request", "dates as YYYY-MM-DD") from None
    doc = epcis.document(s, current_app.config["PUBLIC_HOST"], batch_id=batch_id, start=lo, end=hi,
                         cooperative_id=scope_cooperative())
    response = jsonify(doc)
    response.mimetype = "application/ld+json"
    return response


@bp.route("/openapi.json")
def openapi() -> Any:
    return jsonify(SPEC)


# -- OpenAPI 3.1 description (tests/test_api.py calls every path and checks the statuses) ------

def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_S, _I, _D = {"type": "string"}, {"type": "integer"}, {"type": "string", "format": "date"}
_ERR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _resp(ok: str, what: str, schema: dict[str, Any] | None = None, *errors: str) -> dict[str, Any]:
    out: dict[str, Any] = {ok: {"description": what, **({"content": {"application/json": {"schema": schema}}}
                                                        if schema else {})}}
    for code in ("401", *errors):
        out[code] = {"description": {"400": "malformed request", "401": "no or unknown token",
                                     "403": "the token's role may not do this",
                                     "404": "not found, or outside the user's cooperative",
                                     "422": "refused: the message says why", "503": "MQTT broker unavailable"}[code],
                     **_ERR}
    return out


def _op(summary: str, responses: dict[str, Any], body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _path(name: str, schema: dict[str, Any] = _I) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: dict[str, Any] = _S) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


_REF = {k: {"$ref": f"#/components/schemas/{k}"} for k in ("Cooperative", "Product", "Batch", "Station", "Block",
                                                             "Alert")}
_LIST = {k: {"type": "array", "items": v} for k, v in _REF.items()}
_DATES = [_query("start", _D), _query("end", _D)]

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Tem hub API", "version": "1",
             "description": "Registry, stamps, stations, alerts and reports of a Tem hub. Send "
                            "`Authorization: Bearer <token>` (tokens: `tem admin create-token USER`). A cooperative "
                            "manager's token sees and changes only that cooperative; an inspector's only reads."},
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {
        "/me": {"get": _op("The token's user", _resp("200", "user", _obj(["username", "role"], username=_S, role=_S)))},
        "/cooperatives": {
            "get": _op("Cooperatives the user may see", _resp("200", "list", _LIST["Cooperative"])),
            "post": _op("Add a cooperative (admin)", _resp("201", "created", _REF["Cooperative"], "400", "403", "422"),
                        _obj(["name"], name=_S, address=_S, province=_S, district=_S, phone=_S, gs1_prefix=_S))},
        "/cooperatives/{coop_id}": {"get": _op("One cooperative", _resp("200", "cooperative", _REF["Cooperative"],
                                                                        "404"), params=[_path("coop_id")])},
        "/products": {
            "get": _op("Products", _resp("200", "list", _LIST["Product"])),
            "post": _op("Register a product; the GTIN's check digit is verified and a GTIN is registered once",
                        _resp("201", "created", _REF["Product"], "400", "403", "404", "422"),
                        _obj(["gtin", "name_vi"], gtin=_S, name_vi=_S, name_en=_S, category=_S, cooperative_id=_I))},
        "/products/{product_id}": {"get": _op("One product", _resp("200", "product", _REF["Product"], "404"),
                                              params=[_path("product_id")])},
        "/batches": {
            "get": _op("Batches", _resp("200", "list", _LIST["Batch"]), params=[_query("product_id", _I)]),
            "post": _op("Register a batch (lot) of a product", _resp("201", "created", _REF["Batch"], "400", "403",
                                                                       "404", "422"),
                        _obj(["product_id", "lot"], product_id=_I, lot=_S, packed_on=_D, expires_on=_D, quantity=_I,
                             place=_S))},
        "/batches/{batch_id}": {"get": _op("One batch", _resp("200", "batch", _REF["Batch"], "404"),
                                           params=[_path("batch_id")])},
        "/batches/{batch_id}/diary": {"post": _op(
            "Add a production diary entry", _resp("201", "created", _obj(["id"], id=_I), "400", "403", "404", "422"),
            _obj(["stage", "day"], stage={"enum": list(registry.STAGES)}, day=_D, note=_S, who=_S, place=_S),
            [_path("batch_id")])},
        "/stations": {"get": _op("Every station with liveness and telemetry", _resp("200", "list", _LIST["Station"]))},
        "/stations/{station_id}": {"get": _op("One station", _resp("200", "station", _REF["Station"], "404"),
                                              params=[_path("station_id", _S)])},
        "/stations/{station_id}/commands": {"post": _op(
            "Send a command (QoS 1); the station answers with a command_result event",
            _resp("202", "sent", _obj(["id"], id=_S, name=_S), "400", "403", "404", "422", "503"),
            _obj(["name"], name={"enum": list(COMMANDS)}, lot=_S, serial=_S,
                 reason={"enum": list(registry.VOID_REASONS)}), [_path("station_id", _S)])},
        "/stations/{station_id}/config": {"post": _op(
            "Push config sections (validated as the station will) as the next retained version",
            _resp("202", "pushed", _obj(["version"], version=_I, reported={"type": ["integer", "null"]}), "400",
                  "403", "404", "422", "503"),
            {"type": "object", "description": "sections of the station config (not mqtt, station_id, data_dir)"},
            [_path("station_id", _S)])},
        "/stations/{station_id}/commands/{command_id}": {"get": _op(
            "A command and the station's answer (null until it arrives)",
            _resp("200", "command", _obj(["id", "result"], id=_S, name=_S, result={"type": ["object", "null"]}), "404"),
            params=[_path("station_id", _S), _path("command_id", _S)])},
        "/stamps/counts": {"get": _op("Stamps by state", _resp("200", "counts", {"type": "object",
                                                                                 "additionalProperties": _I}))},
        "/stamps/blocks": {
            "get": _op("Stamp blocks", _resp("200", "list", _LIST["Block"])),
            "post": _op("Issue (mint) a block of stamps for a product", _resp("201", "created", _REF["Block"], "400",
                                                                               "403", "404", "422"),
                        _obj(["product_id", "count"], product_id=_I, count=_I))},
        "/stamps/blocks/{block_id}/allocate": {"post": _op(
            "Allocate a block to a print station: its codes are pushed with add_codes",
            _resp("200", "sent", _obj(["sent"], sent=_I), "400", "403", "404", "422", "503"),
            _obj(["station_id"], station_id=_S), [_path("block_id")])},
        "/stamps/void": {"post": _op("Void a range of stamps with a reason",
                                     _resp("200", "voided", _obj(["voided"], voided=_I), "400", "403", "422"),
                                     _obj(["first", "reason"], first=_S, last=_S, note=_S,
                                          reason={"enum": list(registry.VOID_REASONS)}))},
        "/alerts": {"get": _op("Alerts (open ones unless open=0)", _resp("200", "list", _LIST["Alert"]),
                               params=[_query("open")])},
        "/alerts/{alert_id}": {"post": _op("Acknowledge or resolve an alert",
                                           _resp("200", "alert", _REF["Alert"], "400", "403", "404", "422"),
                                           _obj(["action"], action={"enum": ["acknowledge", "resolve"]}),
                                           [_path("alert_id")])},
        "/reports": {"get": _op("Issued, printed, activated, checked and sold per product, cooperative or district",
                                _resp("200", "report", _obj(["rows", "totals"], rows={"type": "array"},
                                                            totals={"type": "object"}), "400"),
                                params=[_query("group"), *_DATES])},
        "/epcis": {"get": _op("EPCIS 2.0 JSON-LD document of the events of a batch or date range",
                              {"200": {"description": "EPCISDocument",
                                       "content": {"application/ld+json": {"schema": {"type": "object"}}}},
                               **{k: v for k, v in _resp("200", "", None, "400", "404").items() if k != "200"}},
                              params=[_query("batch", _I), *_DATES])},
        "/openapi.json": {"get": {"summary": "This description", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": _obj(["error"], error=_S, message=_S),
            "Cooperative": _obj(["id", "name"], id=_I, name=_S, address=_S, province=_S, district=_S, phone=_S,
                                gs1_prefix={"type": ["string", "null"]}),
            "Product": _obj(["id", "gtin", "name_vi", "cooperative_id"], id=_I, gtin=_S, name_vi=_S, name_en=_S,
                            category=_S, cooperative_id=_I, photo_url={"type": ["string", "null"]}),
            "Batch": _obj(["id", "product_id", "lot"], id=_I, product_id=_I, lot=_S),
            "Station": _obj(["id", "kind", "status"], id=_S, kind=_S, status={"enum": ["online", "offline", "silent"]},
                            last_seen={"type": ["string", "null"]}, config_version={"type": ["integer", "null"]}),
            "Block": _obj(["id", "count", "first_serial", "last_serial"], id=_I, count=_I, first_serial=_S,
                          last_serial=_S, station_id={"type": ["string", "null"]}),
            "Alert": _obj(["id", "kind", "message"], id=_I, kind=_S, message=_S),
        },
    },
}
