"""Clone rules on plain values: a pack cannot be in two far-apart places at once, and a
stamp checked far more often than its batch is suspect."""
from __future__ import annotations

import datetime as dt

from hub.clones import Check, distance_km, far_apart, too_many

T = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.timezone.utc)
CAN_THO = dict(place="Chợ Xuân Khánh", province="Cần Thơ", lat=10.029, lon=105.768)
HA_NOI = dict(place="Chợ Hôm", province="Hà Nội", lat=21.017, lon=105.855)
VI_THANH = dict(place="Vị Thanh", province="Hậu Giang", lat=9.759, lon=105.473)


def test_can_tho_to_ha_noi_is_about_1200_km() -> None:
    assert 1150 < distance_km(Check(T, "a", **CAN_THO), Check(T, "b", **HA_NOI)) < 1300  # type: ignore[operator]


def test_checks_in_can_tho_and_ha_noi_twenty_minutes_apart_are_a_clone() -> None:
    found = far_apart([Check(T, "stall-ct", **CAN_THO), Check(T + dt.timedelta(minutes=20), "stall-hn", **HA_NOI)])
    assert found is not None and found.kind == "far_apart" and "km apart" in found.detail


def test_the_same_pack_driven_from_vi_thanh_to_can_tho_is_fine() -> None:
    # about 40 km in an hour and a half, as a trader's truck does
    assert far_apart([Check(T, "act-1", **VI_THANH), Check(T + dt.timedelta(minutes=90), "stall-ct", **CAN_THO)]) \
        is None


def test_a_flight_from_ha_noi_a_day_later_is_fine() -> None:
    assert far_apart([Check(T, "stall-hn", **HA_NOI), Check(T + dt.timedelta(hours=26), "stall-ct", **CAN_THO)]) is None


def test_without_coordinates_two_provinces_within_an_hour_are_a_clone() -> None:
    a = Check(T, "x", province="Cần Thơ")
    assert far_apart([a, Check(T + dt.timedelta(minutes=30), "y", province="Hà Nội")]) is not None
    assert far_apart([a, Check(T + dt.timedelta(hours=3), "y", province="Hà Nội")]) is None
    assert far_apart([a, Check(T + dt.timedelta(minutes=5), "web")]) is None  # web checks carry no place


def test_many_checks_are_suspect_only_against_the_batch_norm() -> None:
    assert too_many(12, 1.0) is None  # below the floor
    assert too_many(400, 1.2) is not None
    assert too_many(400, 60.0) is None  # a batch that everyone checks, e.g. a promotion
    assert too_many(400, None) is not None
