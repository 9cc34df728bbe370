"""Motion deblur for packs that move past the camera: when a frame has no readable or even
locatable code but its gradients are strongly one-directional (a smear), estimate the
direction from the gradient structure tensor and try Wiener deconvolution with a few
straight-line kernels along it, first at half resolution (cheap), then at full size.

The reader's error correction and the stamp URL checks still vouch for every payload."""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import cv2
import numpy as np

from station.scanner import readers

MIN_COHERENCE = 0.3  # a smeared frame's gradients point mostly one way; sharp scenes mix
NOISE = 0.005  # Wiener noise-to-signal: lower sharpens more and rings more
HALF_LENGTHS = (4, 5, 3, 6)  # smear lengths tried at half size (8, 10, 6, 12 frame pixels)
FULL_LENGTHS = (9, 7, 11, 13)
ANGLE_SLACK = (0.0, -8.0, 8.0)


def direction(gray: np.ndarray) -> tuple[float, float]:
    """(smear direction in degrees, coherence 0..1) from the gradient structure tensor."""
    small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA).astype(np.float32)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = float((gx * gx).mean()), float((gy * gy).mean()), float((gx * gy).mean())
    spread = math.sqrt(((jxx - jyy) / 2) ** 2 + jxy ** 2)
    coherence = 2 * spread / (jxx + jyy + 1e-6)
    strongest = math.degrees(0.5 * math.atan2(2 * jxy, jxx - jyy))
    return strongest + 90.0, coherence  # the smear runs across the strongest gradients


def _kernel(length: int, angle: float) -> np.ndarray:
    size = 2 * length + 1
    k = np.zeros((size, size), np.float32)
    c = size // 2
    k[c, c - length // 2: c - length // 2 + length] = 1
    # cv2 turns counter-clockwise for a positive angle in a y-down image
    k = cv2.warpAffine(k, cv2.getRotationMatrix2D((c, c), -angle, 1), (size, size))
    return k / max(float(k.sum()), 1e-6)


def wiener(gray: np.ndarray, length: int, angle: float, noise: float = NOISE,
           spectrum: np.ndarray | None = None) -> np.ndarray:
    """The frame with a straight smear of `length` pixels at `angle` undone (Wiener filter);
    pass the frame's `spectrum` (rfft2) when trying several kernels on one frame."""
    h, w = gray.shape
    k = _kernel(length, angle)
    pad = np.zeros((h, w), np.float32)
    ks = k.shape[0]
    pad[:ks, :ks] = k
    pad = np.roll(pad, (-(ks // 2), -(ks // 2)), (0, 1))
    g = np.fft.rfft2(gray.astype(np.float32)) if spectrum is None else spectrum
    hk = np.fft.rfft2(pad)
    out = np.fft.irfft2(g * np.conj(hk) / (hk.real ** 2 + hk.imag ** 2 + noise), s=(h, w))
    return np.clip(out, 0, 255).astype(np.uint8)


def run(gray: np.ndarray, deadline: float | None, accept: Callable[[str], bool],
        cap_ms: float = 60.0) -> list[str]:
    """Accepted payloads from deblurred copies; [] when the frame does not look smeared."""
    angle, coherence = direction(gray)
    if coherence < MIN_COHERENCE:
        return []
    # Under a frame budget, at most cap_ms of it: an empty scene that merely looks smeared
    # must not cost a live camera its frame rate. Without one (photos) every kernel is tried.
    stop = None if deadline is None else min(deadline, time.perf_counter() + cap_ms / 1000)
    half = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    # Most smears read at half size with the estimated angle; small modules need full size.
    tries = [(half, n, 0.0) for n in HALF_LENGTHS] + [(gray, n, 0.0) for n in FULL_LENGTHS]
    tries += [(half, n, da) for da in ANGLE_SLACK[1:] for n in HALF_LENGTHS]
    spectra: dict[int, np.ndarray] = {}
    for img, n, da in tries:
        if stop is not None and time.perf_counter() > stop:
            break
        spectrum = spectra.get(id(img))
        if spectrum is None:
            spectrum = spectra[id(img)] = np.fft.rfft2(img.astype(np.float32))
        texts = [t for t in readers.zxing_texts(wiener(img, n, angle + da, spectrum=spectrum)) if accept(t)]
        if texts:
            return list(dict.fromkeys(texts))
    return []
