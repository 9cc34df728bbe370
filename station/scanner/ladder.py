"""The fallback ladder: image fixes tried in turn, within a time budget, on frames where a code is seen but not read."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import zxingcpp

from station.scanner import readers, unwarp


def finder_candidates(gray: np.ndarray) -> list[tuple[float, float, float]]:
    """Centres and sizes of finder-pattern-like blobs (a ring holding a core), either polarity,
    each counted once."""
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 5)
    found: list[tuple[float, float, float]] = []
    for img in (binary, 255 - binary):  # light-on-dark prints have light finders
        contours, hierarchy = cv2.findContours(img, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
        if hierarchy is None:
            continue
        h = hierarchy[0]
        for i, c in enumerate(contours):
            child = h[i][2]
            if child < 0 or h[child][2] < 0:
                continue
            x, y, w, hh = cv2.boundingRect(c)
            if w < 6 or hh < 6 or not 0.4 < w / hh < 2.5:
                continue
            gx, gy, gw, gh = cv2.boundingRect(contours[h[child][2]])
            # a finder's core is 3/7 of its width; generous slack for blur and warp
            if not 0.15 < gw / w < 0.7:
                continue
            cx, cy, size = x + w / 2, y + hh / 2, max(w, hh)
            if all(abs(cx - fx) > fs / 2 or abs(cy - fy) > fs / 2 for fx, fy, fs in found):
                found.append((cx, cy, size))
    return found


def unexplained(candidates, quads: list[np.ndarray]) -> list[tuple[float, float, float]]:
    """Finder candidates that lie outside every code already read."""
    out = []
    for cx, cy, size in candidates:
        inside = False
        for q in quads:
            centre = q.mean(axis=0)
            grown = (centre + (q - centre) * 1.3).astype(np.float32)
            if cv2.pointPolygonTest(grown, (float(cx), float(cy)), False) >= 0:
                inside = True
                break
        if not inside:
            out.append((cx, cy, size))
    return out


def _clahe(g):
    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(g)


def _sharpen(g, sigma=2.0, amount=1.0):
    blur = cv2.GaussianBlur(g, (0, 0), sigma)
    return cv2.addWeighted(g, 1 + amount, blur, -amount, 0)


def _upscale(g):
    return cv2.resize(g, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def _adaptive(g, block=41, c=7):
    return cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, c)


def _flatten(g):
    """Divide out the slow light: glare, shading on a jar, a milky frost layer."""
    background = cv2.GaussianBlur(g, (0, 0), 25).astype(np.float32) + 1
    return cv2.normalize(g.astype(np.float32) / background, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def _denoise(g):
    return cv2.GaussianBlur(cv2.medianBlur(g, 3), (0, 0), 1.0)


def _stretch(g):
    return cv2.normalize(g, None, 0, 255, cv2.NORM_MINMAX)


_GLOBAL = zxingcpp.Binarizer.GlobalHistogram
Step = tuple[str, Callable[[], list[str]]]


def steps(gray: np.ndarray, quads: list[np.ndarray], deadline: float | None) -> Iterator[Step]:
    """Cheapest and most often useful first; each returns the payloads it read (unvalidated)."""
    z = readers.zxing_texts
    yield "global-binarizer", lambda: z(gray, binarizer=_GLOBAL)
    yield "clahe", lambda: z(_clahe(gray))
    yield "flatten", lambda: z(_flatten(gray))
    yield "denoise", lambda: z(_denoise(gray))
    yield "sharpen", lambda: z(_sharpen(gray))
    yield "stretch", lambda: z(_stretch(gray), binarizer=_GLOBAL)
    yield "adaptive", lambda: z(_adaptive(_clahe(gray)))
    yield "upscale", lambda: z(_upscale(gray))
    yield "sharpen-upscale", lambda: z(_upscale(_sharpen(gray, 1.5, 1.5)))
    yield "denoise-adaptive", lambda: z(_adaptive(_denoise(gray), 31, 5))
    for i, quad in enumerate(quads):
        yield f"unwarp-{i}", lambda q=quad: unwarp.read(gray, q, deadline=deadline)
    yield "pyzbar", lambda: readers.pyzbar_texts(_clahe(gray))
    yield "pyzbar-inverted", lambda: readers.pyzbar_texts(255 - _clahe(gray))
    yield "opencv", lambda: readers.opencv_texts(gray)


def run(gray: np.ndarray, quads: list[np.ndarray], want: int, deadline: float | None,
        accept: Callable[[str], bool]) -> Iterator[str]:
    """Accepted payloads from the ladder, until `want` new ones are read or the deadline passes."""
    got: set[str] = set()
    for _name, step in steps(gray, quads, deadline):
        if deadline is not None and time.perf_counter() > deadline:
            return
        for text in step():
            if text not in got and accept(text):
                got.add(text)
                yield text
        if len(got) >= want:
            return
