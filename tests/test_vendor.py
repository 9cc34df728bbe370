"""The vendor's verdicts from synced data, the sync cache, and a handheld serial scanner on a
pseudo-terminal feeding the stall flow. No broker needed: the station is offline here."""
from __future__ import annotations

import os
import wave
from pathlib import Path

import pytest

from station import config as station_config
from station.runtime import Station
from station.scanner.feedback import PATTERNS, sound_files
from station.scanner.stampcache import StampCache, SyncError
from station.scanner.verdict import judge
from tem import messages
from tem.codes import Keyring
from tests.conftest import GTIN, wait_until

KEYS = Keyring({"A": b"vendor-test-key-0123456789"})
S = {name: KEYS.mint(n, GTIN) for n, name in enumerate(["genuine", "issued", "void", "sold", "other", "unknown"], 1)}
OTHER_GTIN = "08934567890137"


def url(serial: str, gtin: str = GTIN) -> str:
    return f"HTTPS://TEM.VN/01/{gtin}/21/{serial}"


def chunk(part: int = 0, parts: int = 1, sync: str = "s1", stamps=None) -> dict:  # type: ignore[no-untyped-def]
    rows = stamps if stamps is not None else [
        [S["genuine"], "active", GTIN, "L1"], [S["issued"], "issued", GTIN], [S["void"], "void", GTIN, "L1", "recalled"],
        [S["sold"], "sold", GTIN, "L1"], [S["other"], "active", OTHER_GTIN, "X9"]]
    return {"sync": sync, "part": part, "parts": parts, "at": "2026-11-23T10:00:00+00:00", "scope": "*",
            "products": {GTIN: {"name": "Cá thát lát rút xương", "producer": "HTX Kỳ Như"}}, "stamps": rows}


@pytest.fixture
def cache(tmp_path: Path) -> StampCache:
    c = StampCache(tmp_path / "stamps.db")
    assert c.apply_chunk(chunk())[0]
    return c


@pytest.mark.parametrize("name, kind, colour, headline", [
    ("genuine", "genuine", "green", "Hàng chính hãng"),
    ("issued", "not_active", "amber", "Chưa kích hoạt"),
    ("void", "void", "red", "Tem đã bị hủy"),
    ("sold", "sold", "amber", "Tem đã bán trước đó"),
])
def test_a_synced_stamp_gets_the_verdict_of_its_state(cache: StampCache, name: str, kind: str, colour: str,
                                                      headline: str) -> None:
    v = judge(url(S[name]), cache, online=False)
    assert (v.kind, v.colour, v.headline) == (kind, colour, headline)
    assert v.product == "Cá thát lát rút xương" and v.producer == "HTX Kỳ Như"


def test_a_void_stamp_says_why(cache: StampCache) -> None:
    assert "thu hồi" in judge(url(S["void"]), cache, online=True).detail


def test_a_stamp_not_in_the_cache_is_never_green_online_or_offline(cache: StampCache) -> None:
    offline = judge(url(S["unknown"]), cache, online=False)
    online = judge(url(S["unknown"]), cache, online=True)
    assert offline.colour == online.colour == "grey"
    assert offline.headline == "Không xác minh được khi ngoại tuyến"
    assert online.headline == "Không xác minh được tại trạm"


def test_a_real_serial_under_another_products_gtin_is_red(cache: StampCache) -> None:
    v = judge(url(S["other"]), cache, online=True)  # S["other"] belongs to OTHER_GTIN
    assert (v.kind, v.colour) == ("wrong_product", "red")


@pytest.mark.parametrize("text", ["HELLO", url(S["genuine"])[:-1], f"HTTPS://TEM.VN/01/08934567890121/21/{S['genuine']}",
                                  "https://zalo.me/g/abcdef123"])
def test_a_malformed_or_forged_code_is_red_not_verifiable(cache: StampCache, text: str) -> None:
    v = judge(text, cache, online=True)
    assert (v.kind, v.colour, v.headline, v.serial) == ("forged", "red", "Không xác minh được", None)


def test_a_half_received_sync_forgets_nothing_and_a_complete_one_drops_what_the_hub_no_longer_lists(
        cache: StampCache) -> None:
    done, _ = cache.apply_chunk(chunk(0, 2, "s2", [[S["genuine"], "sold", GTIN, "L1"]]))
    assert not done
    assert cache.lookup(S["void"]) is not None  # still known while s2 is incomplete
    assert cache.lookup(S["genuine"]).state == "sold"  # type: ignore[union-attr]
    done, _ = cache.apply_chunk(chunk(1, 2, "s2", [[S["issued"], "active", GTIN, "L2"]]))
    assert done
    assert cache.lookup(S["void"]) is None and cache.lookup(S["issued"]).lot == "L2"  # type: ignore[union-attr]
    assert cache.status()["sync"] == "s2" and cache.status()["stamps"] == 2


@pytest.mark.parametrize("bad", [{"part": 0}, chunk(part=3, parts=2), chunk(stamps=[["A-SHORT", "active"]]),
                                 chunk(stamps=[[S["genuine"], "stolen"]])])
def test_a_broken_sync_chunk_is_refused_with_a_reason(cache: StampCache, bad: dict) -> None:
    with pytest.raises(SyncError):
        cache.apply_chunk(bad)
    assert cache.lookup(S["genuine"]).state == "active"  # type: ignore[union-attr]


def test_beep_patterns_are_real_wav_files(tmp_path: Path) -> None:
    files = sound_files(tmp_path)
    for name, path in files.items():
        with wave.open(str(path)) as w:
            secs = w.getnframes() / w.getframerate()
        assert abs(secs - sum(d for _, d in PATTERNS[name])) < 0.01


def _stall(tmp_path: Path, **overrides) -> Station:  # type: ignore[no-untyped-def]
    (tmp_path / "secret").write_text("x")
    data = {"station_id": "stall-9", "kind": "stall", "data_dir": str(tmp_path / "stall"),
            "mqtt": {"port": 1, "password_file": str(tmp_path / "secret")}, **overrides}
    return Station(station_config.from_dict(data))


def test_a_serial_handheld_scanner_on_a_pty_feeds_the_verdict_and_a_checked_event(tmp_path: Path) -> None:
    master, slave = os.openpty()
    station = _stall(tmp_path, scan={"serial_port": os.ttyname(slave), "serial_baud": 115200, "sound": False})
    flow = station.flow
    flow.cache.apply_chunk(chunk())
    flow.start()
    try:
        wait_until(lambda: "sẵn sàng" in " ".join(flow.state()["inputs"]), what="scanner open")
        # Given a handheld scanner that ends each code with CR (the usual factory setting)
        os.write(master, url(S["genuine"]).encode() + b"\r")
        wait_until(lambda: flow.last and flow.last["kind"] == "genuine", what="genuine verdict")
        # and one that ends with CR LF, in two pieces as a slow USB-serial bridge delivers it
        text = url(S["void"]).encode()
        os.write(master, text[:20])
        os.write(master, text[20:] + b"\r\n")
        wait_until(lambda: flow.last and flow.last["kind"] == "void", what="void verdict")
    finally:
        flow.stop()
        os.close(master)
        os.close(slave)
    events = [messages.parse_event(body) for _seq, _id, body in station.outbox.pending()]
    assert flow.last["via"] == "scanner" and flow.lamp.colour == "red" and flow.lamp.buzzes == 1
    assert [(e.type, e.serial, e.verdict) for e in events] == [
        ("checked", S["genuine"], "genuine"), ("checked", S["void"], "void")]
    station.outbox.close()


def test_only_a_pack_just_shown_genuine_can_be_recorded_sold(tmp_path: Path) -> None:
    station = _stall(tmp_path, scan={"sound": False})
    flow = station.flow
    flow.cache.apply_chunk(chunk())
    flow.scan(url(S["issued"]))
    assert flow.sell(S["issued"])[0] is False
    flow.scan(url(S["genuine"]))
    assert flow.sell(S["genuine"]) == (True, "Đã ghi bán.")
    assert flow.cache.lookup(S["genuine"]).state == "sold"  # type: ignore[union-attr]
    # the next scan of the same pack no longer says genuine
    assert flow.scan(url(S["genuine"])).kind == "sold"
    flow.stop()
    station.outbox.close()


def test_a_late_chunk_of_an_older_sync_does_not_overwrite_newer_states(cache: StampCache) -> None:
    cache.apply_chunk(chunk(0, 1, "s3", [[S["genuine"], "void", GTIN, "L1", "recalled"]]))
    done, text = cache.apply_chunk(chunk(1, 2, "s2", [[S["genuine"], "active", GTIN, "L1"]]))
    assert not done and "ignored" in text
    assert cache.lookup(S["genuine"]).state == "void"  # type: ignore[union-attr]


def test_another_web_page_cannot_record_a_sale_through_the_stall_page(tmp_path: Path) -> None:
    from station import kiosk
    station = _stall(tmp_path, scan={"sound": False})
    flow = station.flow
    flow.cache.apply_chunk(chunk())
    flow.scan(url(S["genuine"]))
    client = kiosk.create_app(station).test_client()
    assert client.post("/sold", data={"serial": S["genuine"]},
                       headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/scan", data={"code": url(S["void"])}).status_code == 403  # no Origin at all
    assert flow.cache.lookup(S["genuine"]).state == "active"  # type: ignore[union-attr]
    ok = client.post("/sold", data={"serial": S["genuine"]}, headers={"Origin": "http://localhost"})
    assert ok.status_code == 200 and flow.cache.lookup(S["genuine"]).state == "sold"  # type: ignore[union-attr]
    assert client.get("/sound/ok.wav").headers["Content-Type"] == "audio/wav"
    flow.stop()
    station.outbox.close()


def changes(sync: str, stamps: list, **extra) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {"mode": "changes", "sync": sync, "at": "2026-11-23T11:00:00+00:00", "since": "2026-11-23T10:00:00+00:00",
            "products": {}, "stamps": stamps, **extra}


def test_changes_between_full_syncs_update_stamps_and_forget_none(cache: StampCache) -> None:
    done, text = cache.apply_chunk(changes("s5", [[S["issued"], "active", GTIN, "L1"]]))
    assert not done and "1 stamps" in text
    assert cache.lookup(S["issued"]).state == "active"  # type: ignore[union-attr]
    assert cache.status()["stamps"] == 5 and cache.status()["sync"] == "s1"  # nothing dropped, still sync s1
    assert cache.synced_at() == "2026-11-23T11:00:00+00:00"  # current as of the change set


def test_a_full_sync_completing_after_newer_changes_keeps_them(cache: StampCache) -> None:
    # the hub answered a question (built at s4) while a full sync built earlier (s3) was still arriving
    cache.apply_chunk(chunk(0, 2, "s3", [[S["genuine"], "active", GTIN, "L1"]]))
    cache.apply_chunk(changes("s4", [[S["unknown"], "active", GTIN, "L1"], [S["issued"], "void", GTIN, "L1", "damaged"]],
                              answer="q1"))
    done, _ = cache.apply_chunk(chunk(1, 2, "s3", [[S["issued"], "issued", GTIN]]))
    assert done
    assert cache.lookup(S["unknown"]).state == "active"  # type: ignore[union-attr]  # newer than s3: kept
    assert cache.lookup(S["issued"]).state == "void"  # type: ignore[union-attr]  # s3's older row did not win
    assert cache.lookup(S["void"]) is None  # s3 no longer lists it


def test_changes_older_than_the_newest_full_sync_are_ignored(cache: StampCache) -> None:
    cache.apply_chunk(chunk(0, 1, "s3", [[S["genuine"], "void", GTIN, "L1", "recalled"]]))
    done, text = cache.apply_chunk(changes("s2", [[S["genuine"], "active", GTIN, "L1"]]))
    assert not done and "ignored" in text
    assert cache.lookup(S["genuine"]).state == "void"  # type: ignore[union-attr]


def test_an_answer_about_one_stamp_does_not_claim_the_cache_is_current(cache: StampCache) -> None:
    cache.apply_chunk(changes("s4", [[S["unknown"], "active", GTIN, "L1"]], answer="q1",
                              at="2026-11-23T12:00:00+00:00"))
    assert cache.synced_at() == "2026-11-23T10:00:00+00:00"  # still as of the full sync


@pytest.mark.parametrize("bad", [changes("s5", [["A-SHORT", "active"]]), changes("s5", [[S["genuine"], "stolen"]]),
                                 {"mode": "changes", "stamps": []}, changes("s5", "not rows")])
def test_a_broken_change_set_is_refused_and_changes_nothing(cache: StampCache, bad: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(SyncError):
        cache.apply_chunk(bad)
    assert cache.lookup(S["genuine"]).state == "active"  # type: ignore[union-attr]
