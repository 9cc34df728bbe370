"""A fleet of more stations than one dashboard page: the page and its live update show
a bounded page at a time, with links to the others; the version counts cover the fleet."""
from __future__ import annotations

import re

from flask import Flask

from hub import db as hubdb
from hub.models import Station
from hub.ops import FLEET_PAGE
from tests.ops_fixtures import *  # noqa: F403
from tests.ops_fixtures import Seeded


def test_the_dashboard_pages_a_large_fleet(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    engine = hubdb.make_engine(ops_seeded.url)
    with hubdb.sessions(engine)() as s, s.begin():
        for i in range(150):
            s.add(Station(id=f"st-{i:03d}", kind="stall", cooperative_id=ops_seeded.a.id, software="tem-station 0.1.0"))
    engine.dispose()
    admin = console("admin")
    first = admin.get("/ops/").get_data(as_text=True)
    assert len(re.findall(r'<tr data-station="', first)) == FLEET_PAGE
    assert '<td data-kind="stall">sạp chợ</td>' in first  # the station's kind in the operator's words
    assert '<a href="?page=2">2</a>' in first and "/ops/fleet.json?page=1" in first
    versions = first[first.index('<table id="versions">'):]
    assert '<tr><td>tem-station 0.1.0</td><td>–</td><td class="num">150</td></tr>' in versions
    second = admin.get("/ops/?page=2").get_data(as_text=True)
    assert len(re.findall(r'<tr data-station="', second)) == 152 - FLEET_PAGE and "<b>2</b>" in second
    fleet = admin.get("/ops/fleet.json?page=2").get_json()
    assert fleet["page"] == 2 and len(fleet["stations"]) == 152 - FLEET_PAGE
    assert admin.get("/ops/fleet.json?page=x").get_json()["page"] == 1
    mgr = console("mgr_b")  # cooperative B has one station: one page, nobody else's
    page = mgr.get("/ops/").get_data(as_text=True)
    assert re.findall(r'<tr data-station="([^"]+)"', page) == [ops_seeded.b.station] and "?page=2" not in page
