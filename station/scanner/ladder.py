"""The fallback ladder: image fixes tried in turn, within a time budget, on frames where a code is seen but not read."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import zxingcpp

from station.scanner import readers, unwarp


def unexplained(candidates: list[unwarp.Finder], quads: list[np.ndarray]) -> list[unwarp.Finder]:
    """Finder candidates that lie outside every code already read."""
    out = []
    for f in candidates:
        inside = False
        for q in quads:
            centre = q.mean(axis=0)
            grown = (centre + (q - centre) * 1.3).astype(np.float32)
            if cv2.pointPolygonTest(grown, (float(f.x), float(f.y)), False) >= 0:
                inside = True
                break
        if not inside:
            out.append(f)
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
    """Divide out the slow light: glare, shading on a jar, a milky frost layer. The background
    is blurred at an eighth of the size (the same light, a fiftieth of the work)."""
    small = cv2.resize(g, (g.shape[1] // 8, g.shape[0] // 8), interpolation=cv2.INTER_AREA)
    background = cv2.resize(cv2.GaussianBlur(small, (0, 0), 25 / 8), (g.shape[1], g.shape[0]),
                            interpolation=cv2.INTER_LINEAR).astype(np.float32) + 1
    return cv2.normalize(g.astype(np.float32) / background, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def _denoise(g):
    return cv2.GaussianBlur(cv2.medianBlur(g, 3), (0, 0), 1.0)


def _stretch(g):
    return cv2.normalize(g, None, 0, 255, cv2.NORM_MINMAX)


_GLOBAL = zxingcpp.Binarizer.GlobalHistogram
Step = tuple[str, Callable[[], list[str]]]


def steps(gray: np.ndarray, deadline: float | None) -> Iterator[Step]:
    """Cheapest and most often useful first; each returns the payloads it read (unvalidated).

    The un-warp (tens of ms) comes after the cheap whole-frame fixes: a crumpled code reads
    through nothing else; guessing a finder hidden by glare comes after the upscaling steps."""
    z = readers.zxing_texts
    found: list[list[unwarp.Finder]] = []

    def unwarped(guess: bool) -> list[str]:
        if not found:  # finders from three binarisations, shared by both un-warp steps
            found.append(unwarp.finders(gray, unwarp.BINARIZATIONS))
        return unwarp.read(gray, found[0], deadline=deadline, guess=guess)

    yield "global-binarizer", lambda: z(gray, binarizer=_GLOBAL)
    yield "clahe", lambda: z(_clahe(gray))
    yield "flatten", lambda: z(_flatten(gray))
    yield "denoise", lambda: z(_denoise(gray))
    yield "sharpen", lambda: z(_sharpen(gray))
    yield "stretch", lambda: z(_stretch(gray), binarizer=_GLOBAL)
    yield "adaptive", lambda: z(_adaptive(_clahe(gray)))
    yield "unwarp", lambda: unwarped(False)
    yield "upscale", lambda: z(_upscale(gray))
    yield "sharpen-upscale", lambda: z(_upscale(_sharpen(gray, 1.5, 1.5)))
    yield "denoise-adaptive", lambda: z(_adaptive(_denoise(gray), 31, 5))
    yield "unwarp-guessed", lambda: unwarped(True)
    yield "pyzbar", lambda: readers.pyzbar_texts(_clahe(gray))
    yield "pyzbar-inverted", lambda: readers.pyzbar_texts(255 - _clahe(gray))
    yield "opencv", lambda: readers.opencv_texts(gray)


def run(gray: np.ndarray, want: int, deadline: float | None,
        accept: Callable[[str], bool]) -> Iterator[str]:
    """Accepted payloads from the ladder, until `want` new ones are read or the deadline passes."""
    got: set[str] = set()
    for _name, step in steps(gray, deadline):
        if deadline is not None and time.perf_counter() > deadline:
            return
        for text in step():
            if text not in got and accept(text):
                got.add(text)
                yield text
        if len(got) >= want:
            return
