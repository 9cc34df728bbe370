"""Bad input in the console is refused with a message that says what is wrong, and
nothing is half-written: invalid and duplicate GTINs, overlapping serial ranges,
oversized or fake photo uploads, invalid station configs."""
from __future__ import annotations

import io
from typing import Any

from flask import Flask
from PIL import Image
from sqlalchemy import func, select

from hub import db as hubdb
from hub.models import Product, Stamp, StampBlock, StationConfigPush
from hub.ops import registry
from tests.ops_fixtures import *  # noqa: F403
from tests.ops_fixtures import KEYRING, Seeded, flashes, gtin


def _count(url: str, model: Any, *where: Any) -> int:
    engine = hubdb.make_engine(url)
    with hubdb.sessions(engine)() as s:
        n = s.scalar(select(func.count()).select_from(model).where(*where))
    engine.dispose()
    return n


def test_a_gtin_with_a_wrong_check_digit_is_refused(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin", "en")
    good = gtin("893850597301")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    before = _count(ops_seeded.url, Product)
    r = admin.post("/ops/products", {"cooperative_id": ops_seeded.a.id, "gtin": bad, "name_vi": "Trà"})
    assert r.status_code == 200
    assert any(f"check digit {bad[-1]}, it should be {good[-1]}" in m for m in flashes(r)), flashes(r)
    assert _count(ops_seeded.url, Product) == before
    r = admin.post("/ops/products", {"cooperative_id": ops_seeded.a.id, "gtin": "89385059ABC", "name_vi": "Trà"})
    assert any("only digits" in m for m in flashes(r))
    # and in Vietnamese, the console's first language
    r = console("admin").post("/ops/products", {"cooperative_id": ops_seeded.a.id, "gtin": bad, "name_vi": "Trà"})
    assert f"GTIN {bad} có số kiểm tra {bad[-1]}, đúng ra phải là {good[-1]}" in flashes(r), flashes(r)


def test_a_duplicate_gtin_is_refused_and_names_the_product(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin", "en")
    before = _count(ops_seeded.url, Product)
    # the same GTIN written as a GTIN-13 is the same product
    r = admin.post("/ops/products", {"cooperative_id": ops_seeded.a.id, "gtin": ops_seeded.a.gtin[1:],
                                     "name_vi": "Bản sao"})
    assert any("already registered for product “Sản phẩm A”" in m for m in flashes(r)), flashes(r)
    assert _count(ops_seeded.url, Product) == before
    # a manager of another cooperative learns only that it is taken
    r = console("mgr_b", "en").post("/ops/products", {"gtin": ops_seeded.a.gtin, "name_vi": "Bản sao"})
    assert any("already registered by another cooperative" in m for m in flashes(r)), flashes(r)
    assert _count(ops_seeded.url, Product) == before


def test_a_roll_overlapping_a_known_block_is_refused_and_nothing_is_minted(ops_app: Flask, ops_seeded: Seeded,
                                                                         console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin", "en")
    # a roll of stamps 5_000..5_099, then one that overlaps it at 5_050..5_149
    first, last = KEYRING.mint(5_000), KEYRING.mint(5_099)
    r = admin.post("/ops/stamps/roll", {"cooperative_id": ops_seeded.a.id, "first": first, "last": last},
                   follow_redirects=True)
    assert any("100 stamps" in m or "100 tem" in m for m in flashes(r)), flashes(r)
    stamps, blocks = _count(ops_seeded.url, Stamp), _count(ops_seeded.url, StampBlock)
    r = admin.post("/ops/stamps/roll", {"cooperative_id": ops_seeded.a.id, "first": KEYRING.mint(5_050),
                                        "last": KEYRING.mint(5_149)}, follow_redirects=True)
    assert any("overlap block" in m for m in flashes(r)), flashes(r)
    assert (_count(ops_seeded.url, Stamp), _count(ops_seeded.url, StampBlock)) == (stamps, blocks)
    # and a serial the hub never minted is not a roll
    forged = KEYRING.mint(6_000)[:-1] + ("0" if KEYRING.mint(6_000)[-1] != "0" else "1")
    r = admin.post("/ops/stamps/roll", {"cooperative_id": ops_seeded.a.id, "first": forged,
                                        "last": KEYRING.mint(6_010)}, follow_redirects=True)
    assert any("not a roll stamp minted by this hub" in m for m in flashes(r)), flashes(r)
    assert _count(ops_seeded.url, Stamp) == stamps


def test_minting_after_a_roll_never_reuses_its_numbers(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin", "en")
    admin.post("/ops/stamps/roll", {"cooperative_id": ops_seeded.a.id, "first": KEYRING.mint(9_000),
                                    "last": KEYRING.mint(9_009)})
    r = admin.post("/ops/stamps/issue", {"product_id": ops_seeded.a.product_id, "count": 5}, follow_redirects=True)
    assert any("5" in m for m in flashes(r))
    engine = hubdb.make_engine(ops_seeded.url)
    with hubdb.sessions(engine)() as s:
        newest = s.scalars(select(StampBlock).order_by(StampBlock.id.desc())).first()
    engine.dispose()
    assert newest.first_number > 9_009


def test_issuing_too_many_or_zero_stamps_is_refused(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin", "en")
    before = _count(ops_seeded.url, Stamp)
    for count in (0, registry.MAX_BLOCK + 1):
        r = admin.post("/ops/stamps/issue", {"product_id": ops_seeded.a.product_id, "count": count},
                       follow_redirects=True)
        assert any(f"1 to {registry.MAX_BLOCK}" in m for m in flashes(r)), flashes(r)
    assert _count(ops_seeded.url, Stamp) == before


def test_voiding_a_range_voids_each_stamp_once_with_its_reason(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    mgr = console("mgr_a", "en")
    mgr.post("/ops/stamps/issue", {"product_id": ops_seeded.a.product_id, "count": 10})
    engine = hubdb.make_engine(ops_seeded.url)
    with hubdb.sessions(engine)() as s:
        block = s.scalars(select(StampBlock).where(StampBlock.cooperative_id == ops_seeded.a.id)
                          .order_by(StampBlock.id.desc())).first()
        serials = registry.block_serials(s, block)
    r = mgr.post("/ops/stamps/void", {"first": serials[2], "last": serials[4], "reason": "damaged"},
                 follow_redirects=True)
    assert any("3" in m for m in flashes(r)), flashes(r)
    with hubdb.sessions(engine)() as s:
        states = dict(s.execute(select(Stamp.serial, Stamp.state).where(Stamp.serial.in_(serials))).all())
        reasons = set(s.scalars(select(Stamp.void_reason).where(Stamp.serial.in_(serials[2:5]))))
    engine.dispose()
    assert [states[x] for x in serials] == ["issued"] * 2 + ["void"] * 3 + ["issued"] * 5
    assert reasons == {"damaged"}
    # a range of the other cooperative is not this manager's to void
    r = mgr.post("/ops/stamps/void", {"first": ops_seeded.b.first_serial, "last": ops_seeded.b.first_serial,
                                      "reason": "damaged"}, follow_redirects=True)
    assert any("belongs to another cooperative" in m for m in flashes(r)), flashes(r)


def _png(size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (20, 108, 46)).save(out, "PNG")
    return out.getvalue()


def test_an_oversized_upload_is_refused_and_the_product_is_unchanged(ops_app: Flask, ops_seeded: Seeded,
                                                                    console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin", "en")
    url = f"/ops/products/{ops_seeded.a.product_id}"
    big = b"\xff\xd8\xff" + b"0" * (registry.MAX_PHOTO_BYTES + 100_000)
    r = admin.post(url, {"gtin": ops_seeded.a.gtin, "name_vi": "Đổi tên", "photo": (io.BytesIO(big), "big.jpg")},
                   content_type="multipart/form-data")
    assert r.status_code == 413
    assert "MB" in r.get_data(as_text=True)
    r = admin.post(url, {"gtin": ops_seeded.a.gtin, "name_vi": "Đổi tên",
                         "photo": (io.BytesIO(b"<?php evil ?>" * 10), "x.jpg")}, content_type="multipart/form-data",
                   follow_redirects=True)
    assert any("not a JPEG, PNG or WebP" in m for m in flashes(r)), flashes(r)
    assert "Sản phẩm A" in admin.get(url).get_data(as_text=True)  # the rename was not half-applied
    r = admin.post(url, {"gtin": ops_seeded.a.gtin, "name_vi": "Sản phẩm A", "photo": (io.BytesIO(_png()), "a.png")},
                   content_type="multipart/form-data", follow_redirects=True)
    page = r.get_data(as_text=True)
    src = page.split('<img src="', 1)[1].split('"', 1)[0]
    assert src.startswith("/media/") and admin.client.get(src).data == _png()


def test_an_invalid_station_config_is_refused_before_anything_is_sent(ops_app: Flask, ops_seeded: Seeded,
                                                                     console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin", "en")
    url = f"/ops/stations/{ops_seeded.a.station}/config"
    cases = [
        ({"format": "toml", "config": "[printing]\nactivate_on_prnt = true\n"}, "unknown field"),
        ({"format": "json", "config": "{not json"}, "not valid JSON"),
        ({"format": "toml", "config": "[mqtt]\nport = 1\n"}, "station's own file"),
        ({"format": "toml", "config": '[product]\ngtin = "123"\nname = "x"\nlot = "L"\n'}, "GTIN"),
    ]
    for form, message in cases:
        r = admin.post(url, form, follow_redirects=True)
        assert any(message in m for m in flashes(r)), (form, flashes(r))
    assert _count(ops_seeded.url, StationConfigPush) == 0


def test_a_duplicate_lot_and_a_bad_date_are_refused(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    mgr = console("mgr_a", "en")
    r = mgr.post("/ops/batches", {"product_id": ops_seeded.a.product_id, "lot": "LOT-A"}, follow_redirects=True)
    assert any("already exists" in m for m in flashes(r)), flashes(r)
    r = mgr.post("/ops/batches", {"product_id": ops_seeded.a.product_id, "lot": "LOT-Z", "packed_on": "20/11/2026"},
                 follow_redirects=True)
    assert any("YYYY-MM-DD" in m for m in flashes(r)), flashes(r)
    r = mgr.post(f"/ops/batches/{ops_seeded.a.batch_id}/diary", {"stage": "dancing", "day": "2026-11-02"},
                 follow_redirects=True)
    assert any("stage must be one of" in m for m in flashes(r)), flashes(r)


def test_editing_a_diary_entry_keeps_the_earlier_text(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    mgr = console("mgr_a", "en")
    r = mgr.post(f"/ops/diary/{ops_seeded.a.diary_id}", {"stage": "harvest", "day": "2026-11-01",
                                                         "note": "thu hoạch 1,8 tấn"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "thu hoạch 1,8 tấn" in page
    history = page.split('<h3>', 1)[1]
    assert "thu hoạch a" in history and "mgr_a" in history


def _csv(text: str) -> tuple[io.BytesIO, str]:
    return io.BytesIO(text.encode("utf-8")), "products.csv"


def test_a_csv_import_with_any_bad_row_writes_nothing_and_lists_every_problem(ops_app: Flask, ops_seeded: Seeded,
                                                                              console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin", "en")
    g1, g2 = gtin("893850597401"), gtin("893850597402")
    bad = g2[:-1] + str((int(g2[-1]) + 1) % 10)
    before = _count(ops_seeded.url, Product)
    text = (f"gtin,name_vi,name_en\n{g1},Bánh pía,Pia cake\n{bad},Kẹo dừa,\n{g1},Trùng,\n"
            f"{ops_seeded.a.gtin},Đã có,\n{g2},\"thiếu cột\"\n")
    r = admin.post("/ops/products/import", {"cooperative_id": ops_seeded.a.id, "file": _csv(text)},
                   content_type="multipart/form-data", follow_redirects=True)
    [message] = flashes(r)
    assert "line 3: GTIN" in message and "check digit" in message
    assert f"line 4: GTIN {g1} is also on line 2" in message
    assert "line 5: GTIN" in message and "already registered" in message
    assert "line 6: 2 fields, expected 3" in message
    assert _count(ops_seeded.url, Product) == before
    for broken, why in ((b"\xff\xfegtin", "not UTF-8"), (b"code;name\n1;2\n", "first line must name the columns"),
                        (b"", "empty")):
        r = admin.post("/ops/products/import",
                       {"cooperative_id": ops_seeded.a.id, "file": (io.BytesIO(broken), "x.csv")},
                       content_type="multipart/form-data", follow_redirects=True)
        assert any(why in m for m in flashes(r)), (broken, flashes(r))
    assert _count(ops_seeded.url, Product) == before
    # the corrected file goes in whole
    r = admin.post("/ops/products/import", {"cooperative_id": ops_seeded.a.id,
                                            "file": _csv(f"gtin,name_vi\n{g1},Bánh pía\n{g2},Kẹo dừa\n")},
                   content_type="multipart/form-data", follow_redirects=True)
    assert flashes(r) == ["2 products imported."]
    assert _count(ops_seeded.url, Product) == before + 2


def test_certificates_are_checked_and_a_removed_one_stays_in_the_audit_log(ops_app: Flask, ops_seeded: Seeded,
                                                                           console) -> None:  # type: ignore[no-untyped-def]
    from hub.models import AuditLog, Certificate
    mgr = console("mgr_a", "en")
    url = f"/ops/products/{ops_seeded.a.product_id}/certificates"
    for form, why in (({"kind": "ocop"}, "3 to 5 stars"), ({"kind": "ocop", "stars": "6"}, "between 3 and 5"),
                      ({"kind": "vietgap", "valid_from": "2026-01-01", "valid_to": "2025-01-01"}, "ends before"),
                      ({"kind": "vietgap", "url": "javascript:alert(1)"}, "https://"),
                      ({"kind": "iso"}, "kind must be one of")):
        r = mgr.post(url, form, follow_redirects=True)
        assert any(why in m for m in flashes(r)), (form, flashes(r))
    before = _count(ops_seeded.url, Certificate)
    r = mgr.post(url, {"kind": "ocop", "stars": "4", "number": "OCOP-4", "valid_to": "2020-01-01"},
                 follow_redirects=True)
    assert "★★★★" in r.get_data(as_text=True) and "expired" in r.get_data(as_text=True)
    assert _count(ops_seeded.url, Certificate) == before + 1
    r = mgr.post(f"/ops/certificates/{ops_seeded.a.cert_id}/delete", follow_redirects=True)
    assert _count(ops_seeded.url, Certificate) == before
    assert _count(ops_seeded.url, AuditLog, AuditLog.target_type == "certificate", AuditLog.action == "delete") == 1
