"""Un-warp a located but unreadable code: fit its module grid, resample it flat, and read the clean copy.

For labels on curved jars and bags and on crumpled or frosted packs, where the homography a
reader fits to the finder patterns leaves modules a fraction of a module off. Module edges in
the rectified image should fall on a regular grid; the local phase of the edge energy against
that grid says how far off it is, smoothly over the symbol, so the grid can be bent to fit."""
from __future__ import annotations

import math
import time

import cv2
import numpy as np

from station.scanner import readers

PX = 8  # pixels per module in the rectified copy
MARGIN = 3  # modules of margin round the symbol in the rectified copy
SIZES = (29, 25, 33)  # Tem's long URL is version 3, the short one version 2; 4 for long hosts


def _canonical_maps(quad: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates of every pixel of the rectified copy, from the symbol's 4 corners."""
    side = (n + 2 * MARGIN) * PX
    a, b = MARGIN * PX, (MARGIN + n) * PX
    dst = np.float32([[a, a], [b, a], [b, b], [a, b]])
    h = cv2.getPerspectiveTransform(dst, np.float32(quad))
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    pts = np.stack([xx + 0.5, yy + 0.5, np.ones_like(xx)], -1) @ h.T
    return (pts[..., 0] / pts[..., 2] - 0.5).astype(np.float32), (pts[..., 1] / pts[..., 2] - 0.5).astype(np.float32)


def _edge_phase(rect: np.ndarray, axis: int, sigma: float) -> np.ndarray:
    """Per pixel, how far (in pixels, along `axis`, modulo one module) module edges sit from
    the ideal grid lines: the phase of the local edge energy against the module period."""
    r = rect.astype(np.float32)
    g = np.abs(np.diff(r, axis=axis))
    if axis == 1:
        g = np.pad(g, ((0, 0), (0, 1)))
        coord = np.arange(r.shape[1], dtype=np.float32)[None, :] + 1.0  # diff sits between x and x+1
    else:
        g = np.pad(g, ((0, 1), (0, 0)))
        coord = np.arange(r.shape[0], dtype=np.float32)[:, None] + 1.0
    angle = 2 * math.pi * coord / PX
    re = cv2.GaussianBlur(g * np.cos(angle), (0, 0), sigma)
    im = cv2.GaussianBlur(g * np.sin(angle), (0, 0), sigma)
    # edges at k*PX + d give phase 2*pi*d/PX
    return (np.arctan2(im, re) * PX / (2 * math.pi)).astype(np.float32)


def _unwrap_from(a: np.ndarray, k: int) -> np.ndarray:
    right = np.unwrap(a[k:], period=PX)
    left = np.unwrap(a[k::-1], period=PX)[::-1]
    return np.concatenate([left[:-1], right])


def _unwrapped(phase: np.ndarray, n: int, corner: int = 0) -> np.ndarray:
    """The offset field over the symbol without the one-module wraps, taken continuous from the
    top-left finder's centre, where the fitted corners make the offset small."""
    centres = (np.arange(n) + MARGIN) * PX + PX // 2
    coarse = phase[np.ix_(centres, centres)].astype(np.float64)
    # a finder's centre module; which corner holds a finder depends on how the code lies
    ky = 3 if corner in (0, 1) else n - 4
    kx = 3 if corner in (0, 3) else n - 4
    base = _unwrap_from(coarse[ky], kx)
    out = np.empty_like(coarse)
    for c in range(n):
        col = coarse[:, c].copy()
        col += np.round((base[c] - col[ky]) / PX) * PX
        col[ky] = base[c]
        out[:, c] = _unwrap_from(col, ky)
    # back to a full-resolution field; outside the symbol hold the edge values
    side = phase.shape[0]
    full = cv2.resize(out.astype(np.float32), (n * PX, n * PX), interpolation=cv2.INTER_LINEAR)
    pad = MARGIN * PX
    return cv2.copyMakeBorder(full, pad, side - pad - n * PX, pad, side - pad - n * PX, cv2.BORDER_REPLICATE)


def fit(gray: np.ndarray, quad: np.ndarray, n: int, rounds: int = 3, corner: int = 0) -> np.ndarray:
    """The rectified copy of the symbol with its module grid bent to the image's."""
    mapx, mapy = _canonical_maps(quad, n)
    rect = cv2.remap(gray, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    side = rect.shape[0]
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    for i in range(rounds):
        if i == 0:
            # the first estimate may be off by more than half a module: unwrap it
            dx = _unwrapped(_edge_phase(rect, 1, PX * 2.0), n, corner)
            dy = _unwrapped(_edge_phase(rect, 0, PX * 2.0), n, corner)
        else:
            dx = _edge_phase(rect, 1, PX * 1.5)
            dy = _edge_phase(rect, 0, PX * 1.5)
        # follow the grid: sample where the edges really are
        mapx = cv2.remap(mapx, xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mapy = cv2.remap(mapy, xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        rect = cv2.remap(gray, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return rect


def sample(rect: np.ndarray, n: int) -> list[np.ndarray]:
    """Module matrices (True = dark) read off a rectified copy with a few thresholds."""
    centre = cv2.blur(rect, (3, 3))
    idx = (np.arange(n) + MARGIN) * PX + PX // 2
    values = centre[np.ix_(idx, idx)].astype(np.float32)
    local = cv2.GaussianBlur(rect.astype(np.float32), (0, 0), PX * 3)[np.ix_(idx, idx)]
    otsu, _ = cv2.threshold(values.astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return [values < local, values < otsu]


def render(matrix: np.ndarray, px: int = 4) -> np.ndarray:
    """A pure, printed-perfect image of a module matrix with its quiet zone."""
    img = np.where(matrix, 0, 255).astype(np.uint8)
    img = np.pad(img, 4, constant_values=255)
    return cv2.resize(img, None, fx=px, fy=px, interpolation=cv2.INTER_NEAREST)


def _read_matrix(matrix: np.ndarray) -> list[str]:
    texts = readers.zxing_texts(render(matrix), try_rotate=True, try_downscale=False, try_invert=False)
    if not texts:  # a light-on-dark print sampled as is
        texts = readers.zxing_texts(render(~matrix), try_rotate=True, try_downscale=False, try_invert=False)
    return texts


def read(gray: np.ndarray, quad: np.ndarray, sizes: tuple[int, ...] = SIZES,
         deadline: float | None = None) -> list[str]:
    """Payloads read by fitting each plausible symbol size to the located quad.

    Which corner holds the top-left finder is not known, so the grid is unwrapped from each
    corner in turn; the first clean read wins (the reader's error correction vouches for it)."""
    for n in sizes:
        for corner in (None, 0, 1, 2, 3):
            if deadline is not None and time.perf_counter() > deadline:
                return []
            if corner is None:
                rect = cv2.remap(gray, *_canonical_maps(quad, n), cv2.INTER_LINEAR)
            else:
                rect = fit(gray, quad, n, 3, corner)
            for matrix in sample(rect, n):
                texts = _read_matrix(matrix)
                if texts:
                    return texts
    return []
