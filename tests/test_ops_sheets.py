"""Print-ready A4 sheets for a stamp block: a PDF per 40 pages, a preview, and QR codes
that a decoder reads back as the block's uppercase stamp URLs."""
from __future__ import annotations

import io

import zxingcpp
from flask import Flask
from PIL import Image

from hub import db as hubdb
from hub.models import StampBlock
from hub.ops import registry, sheets
from tests.ops_fixtures import *  # noqa: F403
from tests.ops_fixtures import Seeded


def test_a_sheet_holds_the_blocks_codes_readable_by_a_decoder(ops_seeded: Seeded) -> None:
    engine = hubdb.make_engine(ops_seeded.url)
    with hubdb.sessions(engine)() as s:
        serials = registry.block_serials(s, s.get(StampBlock, ops_seeded.a.block_id))
    engine.dispose()
    img = sheets.page(serials, ops_seeded.a.gtin, "tem.vn", f"GTIN {ops_seeded.a.gtin}")
    assert img.size == (2480, 3508)
    found = {r.text for r in zxingcpp.read_barcodes(img.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)}
    assert found == {f"HTTPS://TEM.VN/01/{ops_seeded.a.gtin}/21/{x}" for x in serials}


def test_the_console_serves_pdf_and_preview_only_for_the_users_blocks(ops_app: Flask, ops_seeded: Seeded,
                                                                      console) -> None:  # type: ignore[no-untyped-def]
    mgr = console("mgr_a")
    url = f"/ops/stamps/blocks/{ops_seeded.a.block_id}/sheet"
    assert "PDF 1/1" in mgr.get(url).get_data(as_text=True)
    r = mgr.get(url + "?format=pdf")
    assert r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    r = mgr.get(url + "?format=png")
    assert Image.open(io.BytesIO(r.data)).size == (2480 // 3, 3508 // 3)
    assert mgr.get(f"/ops/stamps/blocks/{ops_seeded.b.block_id}/sheet?format=pdf").status_code == 404
