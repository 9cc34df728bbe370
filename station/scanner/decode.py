"""Frames in, validated stamp URLs out: a fast zxing-cpp pass, then a fallback ladder on hard frames."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from station.scanner import deblur, ladder, readers, unwarp
from tem.stamp import StampURLError, parse_stamp_url


def _accept(text: str, hosts: frozenset[str] | None) -> bool:
    try:
        parse_stamp_url(text, hosts)
    except StampURLError:
        return False
    return True


def decode(frame: np.ndarray, hosts: frozenset[str] | None = None,
           budget_ms: float | None = None) -> list[str]:
    """All stamp URLs readable in a BGR (or grey) frame, each validated; never a wrong payload.

    The first pass always runs (about a millisecond); budget_ms bounds the fallback ladder,
    None lets it run to its end (for photos)."""
    start = time.perf_counter()
    deadline = None if budget_ms is None else start + budget_ms / 1000
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)

    def accept(text: str) -> bool:
        return _accept(text, hosts)

    sightings = readers.zxing(gray)
    accepted = _unique(s.text for s in sightings if s.text and accept(s.text))
    read_quads = [s.quad for s in sightings if s.text]
    failed = [s.quad for s in sightings if s.text is None]
    # The ladder costs time, so it only runs when a code is seen but not read: a symbol the
    # reader located but could not decode, or finder patterns outside every code read.
    loose = ladder.unexplained(unwarp.finders(gray, smooth=1.0), read_quads)
    want = max(len(failed), len(loose) // 3 + (1 if len(loose) % 3 >= 2 else 0))
    if want:
        for text in ladder.run(gray, want, deadline, accept):
            if text not in accepted:
                accepted.append(text)
    if not accepted and (deadline is None or time.perf_counter() < deadline):
        # A pack moving past smears its code beyond locating; only smeared-looking frames pay.
        accepted = deblur.run(gray, deadline, accept)
    return accepted


def _unique(texts) -> list[str]:
    out: list[str] = []
    for t in texts:
        if t not in out:
            out.append(t)
    return out


def decode_file(path: str | Path, hosts: frozenset[str] | None = None) -> list[str]:
    """Read a photo from disk with no time limit; raises FileNotFoundError/ValueError for unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such photo: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"not an image OpenCV can read: {path}")
    return decode(image, hosts)


class Deduper:
    """A stamp held under the camera is seen in many frames; count it once per appearance.

    A payload is new when it was not seen within hold_s; each sighting extends the hold,
    so a pack left in view is not counted again until it has been out of view hold_s."""

    def __init__(self, hold_s: float = 2.0):
        self.hold_s = hold_s
        self._last_seen: dict[str, float] = {}

    def new(self, payloads: list[str], now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        fresh = []
        for p in payloads:
            last = self._last_seen.get(p)
            if (last is None or now - last > self.hold_s) and p not in fresh:
                fresh.append(p)
            self._last_seen[p] = now
        # Forget old sightings so a long shift does not grow the table without bound.
        if len(self._last_seen) > 4096:
            self._last_seen = {k: t for k, t in self._last_seen.items() if now - t <= self.hold_s}
        return fresh
