"""Clone detection from a stamp's check history: the same serial checked from
far-apart places within a short time, or checked far more often than its batch.

Pure functions over values, so the rules are tested without a database."""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

# A person (and the pack they carry) travels at most this fast between two checks.
MAX_SPEED_KMH = 120.0
# Two checks this close are the same place whatever the clocks say (GPS and geocoding noise).
NEAR_KM = 30.0
# Without coordinates: two different provinces within this window (DESIGN.md's rule).
PROVINCE_WINDOW = dt.timedelta(hours=1)
# "Far more checks than normal": above both floors.
MIN_CHECKS = 30
BATCH_FACTOR = 10.0


@dataclass(frozen=True)
class Check:
    at: dt.datetime
    station_id: str
    place: str = ""
    province: str = ""
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class Suspicion:
    kind: str  # "far_apart" or "too_many"
    detail: str  # for the operators' alert, in plain words
    first: Check | None = None
    second: Check | None = None


def distance_km(a: Check, b: Check) -> float | None:
    """Great-circle distance, or None when either check has no position."""
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return None
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def _impossible(a: Check, b: Check) -> str | None:
    hours = abs((b.at - a.at).total_seconds()) / 3600
    km = distance_km(a, b)
    if km is not None:
        if km > NEAR_KM and km / max(hours, 1 / 60) > MAX_SPEED_KMH:
            return f"{km:.0f} km apart within {hours * 60:.0f} min"
        return None
    if a.province and b.province and a.province != b.province and hours <= PROVINCE_WINDOW.total_seconds() / 3600:
        return f"{a.province} and {b.province} within {hours * 60:.0f} min"
    return None


def far_apart(checks: Sequence[Check]) -> Suspicion | None:
    """The first pair of checks no single pack could have made (callers pass a bounded, recent list)."""
    ordered = sorted(checks, key=lambda c: c.at)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if (b.at - a.at) > dt.timedelta(hours=24):
                break  # beyond a day anything is reachable in Vietnam
            why = _impossible(a, b)
            if why:
                return Suspicion("far_apart", f"checked at {a.place or a.station_id} and "
                                              f"{b.place or b.station_id}: {why}", a, b)
    return None


def too_many(checks: int, batch_mean: float | None) -> Suspicion | None:
    """More checks than MIN_CHECKS and than BATCH_FACTOR times the batch's mean."""
    if checks <= MIN_CHECKS:
        return None
    if batch_mean is not None and checks <= BATCH_FACTOR * batch_mean:
        return None
    mean = f"{batch_mean:.1f}" if batch_mean is not None else "unknown"
    return Suspicion("too_many", f"checked {checks} times; the batch's mean is {mean}")
