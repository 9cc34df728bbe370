"""Inspection reports and exports over events that went through the ingestor's own code:
issued vs printed vs activated vs checked vs sold per product, cooperative and district,
the same numbers in CSV and XLSX, and EPCIS 2.0 JSON-LD for a batch, each confined to a
manager's own cooperative."""
from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select

from hub import db as hubdb
from hub import epcis
from hub.ingest import Applier, Incoming
from hub.models import StampBlock
from hub.ops import registry
from tem import messages, topics
from tests.ops_fixtures import *  # noqa: F403
from tests.ops_fixtures import Seeded

T0 = dt.datetime(2026, 11, 20, 1, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def story(ops_seeded: Seeded) -> Seeded:
    engine = hubdb.make_engine(ops_seeded.url)
    sessions = hubdb.sessions(engine)
    with sessions() as s:
        blocks = {b.cooperative_id: registry.block_serials(s, b) for b in s.scalars(select(StampBlock))}
    applier = Applier(sessions)
    seq = {"pr-a": 0, "pr-b": 0}

    def send(model, station: str, at: dt.datetime, **fields) -> None:  # type: ignore[no-untyped-def]
        seq[station] += 1
        ev = model(id=uuid.uuid4(), seq=seq[station], station=station, at=at, **fields)
        out = applier.apply([Incoming(topics.topic(station, "evt"), ev.dump())])
        assert out.new_events == 1 and not out.refused and not out.quarantined, out

    a, b = blocks[ops_seeded.a.id], blocks[ops_seeded.b.id]
    for serial in a[:5]:
        send(messages.PrintedEvent, "pr-a", T0, serial=serial, gtin=ops_seeded.a.gtin)
    for serial in a[:3]:
        send(messages.ActivatedEvent, "pr-a", T0 + dt.timedelta(minutes=5), serial=serial, lot="LOT-A")
    for serial in (a[0], a[0], a[1]):
        send(messages.CheckedEvent, "pr-a", T0 + dt.timedelta(days=1), serial=serial)
    send(messages.SoldEvent, "pr-a", T0 + dt.timedelta(days=1, minutes=3), serial=a[0])
    send(messages.VoidedEvent, "pr-a", T0 + dt.timedelta(days=2), serial=a[4], reason="recalled")
    for serial in b[:2]:
        send(messages.PrintedEvent, "pr-b", T0, serial=serial)
    engine.dispose()
    return ops_seeded


def _table(html: str) -> dict[str, dict[str, int]]:
    import re
    rows = {}
    for key, body in re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', html, re.S):
        rows[key] = {m: int(v) for m, v in re.findall(r'data-metric="(\w+)">(\d+)<', body)}
    return rows


def test_the_product_report_counts_each_lifecycle_step(ops_app: Flask, story: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    page = console("inspector").get("/ops/reports?group=product").get_data(as_text=True)
    rows = _table(page)
    assert rows[str(story.a.product_id)] == {"issued": 20, "printed": 5, "activated": 3, "checked": 3, "sold": 1}
    assert rows[str(story.b.product_id)] == {"issued": 20, "printed": 2, "activated": 0, "checked": 0, "sold": 0}
    assert "<svg" in page and "<rect" in page


def test_a_date_range_counts_what_happened_in_it(ops_app: Flask, story: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    insp = console("inspector")
    rows = _table(insp.get("/ops/reports?group=cooperative&start=2026-11-20&end=2026-11-20").get_data(as_text=True))
    # the stamps were issued when the test ran (not on 20 November); printed and activated on the 20th
    assert rows[str(story.a.id)] == {"issued": 0, "printed": 5, "activated": 3, "checked": 0, "sold": 0}
    rows = _table(insp.get("/ops/reports?group=district&start=2026-11-21&end=2026-11-21").get_data(as_text=True))
    assert rows["Hậu Giang/Vị Thanh"]["checked"] == 3 and rows["Hậu Giang/Vị Thanh"]["sold"] == 1


def test_a_manager_reports_only_on_their_cooperative(ops_app: Flask, story: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    rows = _table(console("mgr_b").get("/ops/reports?group=product").get_data(as_text=True))
    assert list(rows) == [str(story.b.product_id)]


def test_csv_and_xlsx_hold_the_same_numbers_as_the_page(ops_app: Flask, story: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin")
    r = admin.get("/ops/reports?group=district&format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0] == ["district", "issued", "printed", "activated", "checked", "sold"]
    assert ["Vị Thanh, Hậu Giang", "20", "5", "3", "3", "1"] in lines
    r = admin.get("/ops/reports?group=district&format=xlsx")
    ws = load_workbook(io.BytesIO(r.data)).active
    values = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert ["Vị Thanh, Hậu Giang", 20, 5, 3, 3, 1] in values
    assert values[-1] == ["total", 40, 7, 3, 3, 1]


def test_a_bad_date_is_explained_not_a_crash(ops_app: Flask, story: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    r = console("inspector").get("/ops/reports?start=20/11/2026")
    assert r.status_code == 200 and "YYYY-MM-DD" in r.get_data(as_text=True)


def test_epcis_export_maps_events_onto_cbv(ops_app: Flask, story: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    r = console("inspector").get(f"/ops/reports/epcis?batch={story.a.batch_id}")
    assert r.status_code == 200 and r.mimetype == "application/ld+json"
    doc = r.get_json(force=True)
    assert epcis.problems(doc) == []  # GS1's published EPCIS 2.0 JSON schema (installed by scripts/install.sh)
    assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
    assert doc["@context"] == ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
    events = doc["epcisBody"]["eventList"]
    # the batch holds the 3 activated stamps: their print, activation, checks and sale
    steps = [(e["action"], e["bizStep"], e.get("disposition")) for e in events]
    assert steps.count(("ADD", "encoding", "encoded")) == 3
    assert steps.count(("ADD", "commissioning", "active")) == 3
    assert steps.count(("OBSERVE", "inspecting", None)) == 3
    assert steps.count(("OBSERVE", "retail_selling", "retail_sold")) == 1
    activated = next(e for e in events if e["bizStep"] == "commissioning")
    assert activated["ilmd"] == {"cbvmda:lotNumber": "LOT-A"}
    assert activated["epcList"][0].startswith(f"https://tem.vn/01/{story.a.gtin}/21/")
    assert all(e["eventID"].startswith("urn:uuid:") and e["eventTime"].endswith("Z") for e in events)


def test_epcis_for_a_date_range_includes_voids_as_decommissioning(ops_app: Flask, story: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    doc = console("admin").get("/ops/reports/epcis?start=2026-11-22&end=2026-11-22").get_json(force=True)
    assert epcis.problems(doc) == []
    events = doc["epcisBody"]["eventList"]
    assert [(e["action"], e["bizStep"], e["disposition"]) for e in events] == [
        ("DELETE", "decommissioning", "recalled")]


def test_a_manager_cannot_export_another_cooperatives_batch(ops_app: Flask, story: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    mgr = console("mgr_b")
    assert mgr.get(f"/ops/reports/epcis?batch={story.a.batch_id}").status_code == 404
    doc = mgr.get("/ops/reports/epcis").get_json(force=True)
    assert epcis.problems(doc) == [] and doc["epcisBody"]["eventList"]
    assert all(story.a.gtin not in e["epcList"][0] for e in doc["epcisBody"]["eventList"])


def _every_kind_of_event() -> list[dict]:  # type: ignore[type-arg]
    from hub.models import Event
    at = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc)
    bodies = [("printed", {}), ("activated", {"lot": "L1"}), ("checked", {}), ("inspected", {"result": "conformant"}),
              ("inspected", {"result": "non_conformant"}), ("sold", {}), ("voided", {"reason": "recalled"}),
              ("voided", {"reason": "stolen"}), ("voided", {"reason": "damaged"})]
    return [epcis.object_event(Event(id=str(uuid.uuid4()), station_id="pr-a", seq=i + 1, type=kind,
                                     serial="A000000100000007", at=at, body=body), "08938505971018", "L1", "tem.vn")
            for i, (kind, body) in enumerate(bodies)]


def test_every_event_the_export_makes_conforms_to_the_epcis_schema() -> None:
    events = _every_kind_of_event()
    doc = {"@context": [epcis.CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2026-11-23T10:00:00Z", "epcisBody": {"eventList": events}}
    assert epcis.problems(doc) == []


@pytest.mark.parametrize("breakage,where", [
    (lambda d: d.pop("creationDate"), "creationDate"),
    (lambda d: d["epcisBody"]["eventList"][0].update(action="ADDED"), "action"),
    (lambda d: d["epcisBody"]["eventList"][0].pop("eventTime"), "eventTime"),
    (lambda d: d["epcisBody"]["eventList"][0].update(eventTimeZoneOffset="7 hours"), "eventTimeZoneOffset"),
    (lambda d: d["epcisBody"]["eventList"][0].update(epcList="not a list"), "epcList"),
    (lambda d: d.update(schemaVersion=2), "schemaVersion"),
])
def test_a_broken_document_fails_the_schema(breakage, where: str) -> None:  # type: ignore[no-untyped-def]
    doc = {"@context": [epcis.CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2026-11-23T10:00:00Z", "epcisBody": {"eventList": _every_kind_of_event()[:1]}}
    assert epcis.problems(doc) == []
    breakage(doc)
    found = epcis.problems(doc)
    assert found and any(where in p for p in found), found
