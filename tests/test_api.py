"""The JSON API against its own OpenAPI description: every documented path exists and
answers with a documented status and the documented fields; tokens only (a console
cookie does not open it); the same cooperative boundaries and input checks as the console."""
from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hub.api import SPEC
from tests.ops_fixtures import *  # noqa: F403
from tests.ops_fixtures import KEYRING, Seeded, gtin


@pytest.fixture(scope="module")
def api_app(ops_seeded: Seeded, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.ops_fixtures import make_app
    from hub.broker import free_port
    # No broker listens here: commands answer 503, as documented.
    app = make_app(ops_seeded.url, tmp_path_factory.mktemp("instance"), RATELIMIT_ENABLED=False,
                   MQTT_PORT=free_port(), TEM_MQTT_TIMEOUT_S=0.5)
    yield app
    if app.extensions.get("tem.publisher"):
        app.extensions["tem.publisher"].close()


class Api:
    def __init__(self, client: FlaskClient, token: str | None):
        self.client = client
        self.headers = {"Accept-Language": "en", **({"Authorization": f"Bearer {token}"} if token else {})}

    def call(self, method: str, path: str, body: Any = None, **query: Any):  # type: ignore[no-untyped-def]
        return self.client.open(f"/api/v1{path}", method=method, json=body, query_string=query, headers=self.headers)


@pytest.fixture
def api(api_app: Flask, ops_seeded: Seeded):  # type: ignore[no-untyped-def]
    return lambda who=None: Api(api_app.test_client(), ops_seeded.tokens[who] if who else None)


def _fill(path: str, seeded: Seeded, which: str = "a") -> str:
    coop = getattr(seeded, which)
    values = {"coop_id": coop.id, "product_id": coop.product_id, "batch_id": coop.batch_id, "station_id": coop.station,
              "block_id": coop.block_id, "alert_id": coop.alert_id, "command_id": "no-such-command"}
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def _body(path: str, method: str, seeded: Seeded) -> Any:
    a = seeded.a
    return {
        ("/cooperatives", "post"): {"name": "HTX API", "district": "Phụng Hiệp", "province": "Hậu Giang"},
        ("/products", "post"): {"gtin": gtin("893850597901"), "name_vi": "Mắm cá", "cooperative_id": a.id},
        ("/batches", "post"): {"product_id": a.product_id, "lot": "API-1", "packed_on": "2026-11-20"},
        ("/batches/{batch_id}/diary", "post"): {"stage": "packing", "day": "2026-11-20", "note": "đóng gói"},
        ("/stations/{station_id}/commands", "post"): {"name": "test_print"},
        ("/stations/{station_id}/config", "post"): {"place": "Xưởng 2"},
        ("/stamps/blocks", "post"): {"product_id": a.product_id, "count": 10},
        ("/stamps/blocks/{block_id}/allocate", "post"): {"station_id": a.station},
        ("/stamps/void", "post"): {"first": KEYRING.mint(123_456), "reason": "damaged"},
        ("/alerts/{alert_id}", "post"): {"action": "acknowledge"},
    }.get((path, method))


def _schema(ref: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in ref:
        return SPEC["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return ref


def _conforms(value: Any, schema: dict[str, Any]) -> None:
    schema = _schema(schema)
    if schema.get("type") == "array":
        assert isinstance(value, list)
        for item in value:
            _conforms(item, schema["items"])
    elif schema.get("type") == "object":
        assert isinstance(value, dict)
        missing = set(schema.get("required", [])) - set(value)
        assert not missing, f"missing {missing} in {value}"


def _operations() -> list[tuple[str, str]]:
    return [(path, method) for path, ops in SPEC["paths"].items() for method in ops]


def test_every_api_route_is_documented_and_every_documented_path_exists(api_app: Flask) -> None:
    served = set()
    for rule in api_app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            served |= {(path, m.lower()) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert served == set(_operations())


@pytest.mark.parametrize("path, method", _operations())
def test_each_documented_operation_answers_as_documented(api, ops_seeded: Seeded, path: str, method: str) -> None:  # type: ignore[no-untyped-def]
    op = SPEC["paths"][path][method]
    r = api("admin").call(method.upper(), _fill(path, ops_seeded), _body(path, method, ops_seeded))
    assert str(r.status_code) in op["responses"], (path, method, r.status_code, r.get_data(as_text=True)[:300])
    documented = op["responses"][str(r.status_code)]
    content = documented.get("content", {})
    if content and r.status_code < 300:
        media, spec = next(iter(content.items()))
        assert r.mimetype == media
        _conforms(r.get_json(force=True), spec["schema"])
    if r.status_code >= 400:
        assert "error" in r.get_json()
    if op.get("security") != []:
        # without a token: 401, as documented
        anon = api().call(method.upper(), _fill(path, ops_seeded), _body(path, method, ops_seeded))
        assert anon.status_code == 401 and "401" in op["responses"]


def test_a_console_session_does_not_open_the_api(api_app: Flask) -> None:
    from tests.ops_fixtures import Console
    c = Console(api_app.test_client()).sign_in("admin")
    assert c.client.get("/api/v1/me").status_code == 401
    assert c.client.post("/api/v1/cooperatives", json={"name": "csrf"}).status_code == 401


def test_an_unknown_token_is_refused(api_app: Flask) -> None:
    r = api_app.test_client().get("/api/v1/me", headers={"Authorization": "Bearer tem_not-a-real-token"})
    assert r.status_code == 401


@pytest.mark.parametrize("path", [p for p, m in _operations() if m == "get" and "{" in p and "command_id" not in p])
def test_a_manager_cannot_read_another_cooperatives_objects(api, ops_seeded: Seeded, path: str) -> None:  # type: ignore[no-untyped-def]
    assert api("mgr_a").call("GET", _fill(path, ops_seeded, "b")).status_code == 404
    assert api("mgr_b").call("GET", _fill(path, ops_seeded, "b")).status_code == 200


@pytest.mark.parametrize("path", [p for p, m in _operations() if m == "post" and "{" in p])
def test_a_manager_cannot_change_another_cooperatives_objects(api, ops_seeded: Seeded, path: str) -> None:  # type: ignore[no-untyped-def]
    b = ops_seeded.b
    body = {"stage": "other", "day": "2026-11-02", "name": "pause", "station_id": b.station, "action": "resolve"}
    assert api("mgr_a").call("POST", _fill(path, ops_seeded, "b"), body).status_code == 404


def test_lists_hold_only_the_managers_cooperative(api, ops_seeded: Seeded) -> None:  # type: ignore[no-untyped-def]
    mgr = api("mgr_a")
    a, b = ops_seeded.a, ops_seeded.b
    assert {c["id"] for c in mgr.call("GET", "/cooperatives").get_json()} == {a.id}
    assert b.product_id not in {p["id"] for p in mgr.call("GET", "/products").get_json()}
    assert b.batch_id not in {x["id"] for x in mgr.call("GET", "/batches").get_json()}
    assert b.station not in {x["id"] for x in mgr.call("GET", "/stations").get_json()}
    assert b.block_id not in {x["id"] for x in mgr.call("GET", "/stamps/blocks").get_json()}
    assert b.alert_id not in {x["id"] for x in mgr.call("GET", "/alerts").get_json()}
    assert all(r["key"] != str(b.product_id) for r in mgr.call("GET", "/reports").get_json()["rows"])
    # and writing into another cooperative by naming it in the body does not work either
    r = mgr.call("POST", "/batches", {"product_id": b.product_id, "lot": "X"})
    assert r.status_code == 404
    r = mgr.call("POST", "/stamps/blocks", {"product_id": b.product_id, "count": 5})
    assert r.status_code == 404
    r = mgr.call("POST", "/stamps/void", {"first": b.first_serial, "reason": "damaged"})
    assert r.status_code == 422 and "another cooperative" in r.get_json()["message"]


def test_an_inspector_token_reads_but_cannot_write(api, ops_seeded: Seeded) -> None:  # type: ignore[no-untyped-def]
    insp = api("inspector")
    assert insp.call("GET", "/products").status_code == 200
    for path, method in _operations():
        if method == "post":
            r = insp.call("POST", _fill(path, ops_seeded), _body(path, method, ops_seeded) or {})
            assert r.status_code == 403, path


def test_bad_input_is_refused_with_a_reason(api, ops_seeded: Seeded) -> None:  # type: ignore[no-untyped-def]
    admin = api("admin")
    good = gtin("893850597955")
    r = admin.call("POST", "/products", {"gtin": good[:-1] + str((int(good[-1]) + 3) % 10), "name_vi": "x",
                                         "cooperative_id": ops_seeded.a.id})
    assert r.status_code == 422 and "check digit" in r.get_json()["message"]
    r = admin.call("POST", "/products", {"gtin": ops_seeded.b.gtin, "name_vi": "x", "cooperative_id": ops_seeded.a.id})
    assert r.status_code == 422 and "already registered" in r.get_json()["message"]
    r = admin.client.post("/api/v1/products", data="{not json", headers={**admin.headers,
                                                                        "Content-Type": "application/json"})
    assert r.status_code == 400
    r = admin.call("POST", "/stamps/blocks", {"product_id": ops_seeded.a.product_id, "count": 0})
    assert r.status_code == 422
    r = admin.call("POST", f"/stations/{ops_seeded.a.station}/config", {"printing": {"activate_on_prnt": True}})
    assert r.status_code == 422 and "unknown field" in r.get_json()["message"]


def test_the_description_is_served_without_a_token(api) -> None:  # type: ignore[no-untyped-def]
    r = api().call("GET", "/openapi.json")
    assert r.status_code == 200 and r.get_json()["openapi"].startswith("3.1")
