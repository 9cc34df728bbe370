"""The three QR readers behind one shape: zxing-cpp (first choice), pyzbar and OpenCV (second opinions)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

# QRCode is a family in zxing-cpp 3.x (Model 1, Model 2, Micro, rMQR). Tem prints Model 2
# only, and a Micro QR "found" in print texture is a classic false read: ask for Model 2
# and drop anything reported as another member (Model 2 reports itself as plain QRCode).
_MODEL2 = zxingcpp.BarcodeFormat.QRCodeModel2
_MODEL2_REPORTED = frozenset({zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.QRCodeModel2})


@dataclass(frozen=True)
class Sighting:
    text: str | None  # None: a symbol was located but did not decode
    quad: np.ndarray  # 4x2 float corners in image pixels


def zxing(img: np.ndarray, **options) -> list[Sighting]:
    found = zxingcpp.read_barcodes(img, formats=_MODEL2, return_errors=True, **options)
    out = []
    for b in found:
        if b.format not in _MODEL2_REPORTED:
            continue
        p = b.position
        quad = np.array([[p.top_left.x, p.top_left.y], [p.top_right.x, p.top_right.y],
                         [p.bottom_right.x, p.bottom_right.y], [p.bottom_left.x, p.bottom_left.y]], np.float32)
        out.append(Sighting(b.text if b.valid else None, quad))
    return out


def zxing_texts(img: np.ndarray, **options) -> list[str]:
    return [s.text for s in zxing(img, **options) if s.text is not None]


def _load_pyzbar():
    # pyzbar needs the system library libzbar0; without it there is one opinion fewer.
    try:
        from pyzbar import pyzbar
    except ImportError:
        return None
    return pyzbar


_pyzbar = _load_pyzbar()


def pyzbar_available() -> bool:
    return _pyzbar is not None


def pyzbar_texts(img: np.ndarray) -> list[str]:
    if _pyzbar is None:
        return []
    out = []
    for sym in _pyzbar.decode(img, symbols=[_pyzbar.ZBarSymbol.QRCODE]):
        try:
            out.append(sym.data.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return out


_cv_detector: cv2.QRCodeDetector | None = None


def opencv_texts(img: np.ndarray) -> list[str]:
    global _cv_detector
    if _cv_detector is None:
        _cv_detector = cv2.QRCodeDetector()
    try:
        ok, texts, _, _ = _cv_detector.detectAndDecodeMulti(img)
    except cv2.error:
        return []
    return [t for t in texts if t] if ok else []
