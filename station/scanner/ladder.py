"""The fallback ladder: cheap image fixes tried in turn on frames where a code is seen but not read."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import zxingcpp

from station.scanner import readers


def finder_candidates(gray: np.ndarray) -> list[tuple[float, float, float]]:
    """Centres and sizes of finder-pattern-like blobs (a dark ring holding a dark core).

    Works on a half-size copy: a finder of a readable code is at least ~10 px there."""
    small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) if gray.shape[1] > 800 else gray
    scale = gray.shape[1] / small.shape[1]
    binary = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 5)
    out = []
    for img in (binary, 255 - binary):  # light-on-dark prints have light finders
        contours, hierarchy = cv2.findContours(img, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
        if hierarchy is None:
            continue
        h = hierarchy[0]
        for i, c in enumerate(contours):
            child = h[i][2]
            if child < 0:
                continue
            grandchild = h[child][2]
            if grandchild < 0:
                continue
            x, y, w, hh = cv2.boundingRect(c)
            if w < 6 or hh < 6 or not 0.4 < w / hh < 2.5:
                continue
            gx, gy, gw, gh = cv2.boundingRect(contours[grandchild])
            # the core of a finder is 3/7 of its width; allow generous slack for blur and warp
            if not 0.15 < gw / w < 0.7:
                continue
            out.append(((x + w / 2) * scale, (y + hh / 2) * scale, max(w, hh) * scale))
    return out


def has_candidates(gray: np.ndarray, known: int) -> bool:
    """True when more finder-like blobs are in view than the codes already read explain."""
    return len(finder_candidates(gray)) > 3 * known + 1


def _zxing(img, **options):
    return readers.zxing_texts(img, **options)


def _pyzbar(img):
    return readers.pyzbar_texts(img)


def _opencv(img):
    return readers.opencv_texts(img)


def _clahe(g):
    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(g)


def _sharpen(g):
    blur = cv2.GaussianBlur(g, (0, 0), 2.0)
    return cv2.addWeighted(g, 2.0, blur, -1.0, 0)


def _upscale(g):
    return cv2.resize(g, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def _adaptive(g):
    return cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 41, 7)


def _invert(g):
    return 255 - g


def _stretch(g):
    return cv2.normalize(g, None, 0, 255, cv2.NORM_MINMAX)


Step = tuple[str, Callable[[np.ndarray], list[str]]]


def steps(gray: np.ndarray) -> Iterator[Step]:
    """Cheapest and most often useful first; each yields the payloads it read."""
    yield "clahe", lambda: _zxing(_clahe(gray))
    yield "sharpen", lambda: _zxing(_sharpen(gray))
    yield "global-binarizer", lambda: _zxing(gray, binarizer=zxingcpp.Binarizer.GlobalHistogram)
    yield "upscale", lambda: _zxing(_upscale(gray))
    yield "adaptive", lambda: _zxing(_adaptive(_clahe(gray)))
    yield "sharpen-upscale", lambda: _zxing(_upscale(_sharpen(gray)))
    yield "pyzbar", lambda: _pyzbar(_clahe(gray))
    yield "pyzbar-inverted", lambda: _pyzbar(_invert(_clahe(gray)))
    yield "opencv", lambda: _opencv(gray)


def run(gray: np.ndarray, deadline: float | None, known: int) -> Iterator[str]:
    """Payloads from the ladder, stopping at the deadline or once the candidates are explained."""
    want = max(1, (len(finder_candidates(gray)) + 2) // 3)
    got: set[str] = set()
    for _name, step in steps(gray):
        if deadline is not None and time.perf_counter() > deadline:
            return
        for text in step():
            if text not in got:
                got.add(text)
                yield text
        if known + len(got) >= want:
            return
