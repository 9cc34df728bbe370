"""QR symbols drawn with whole-dot modules, so a thermal head prints every module the same size."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import qrcode
from PIL import Image

QUIET_MODULES = 4  # the quiet zone ISO/IEC 18004 asks for


class QRTooLarge(ValueError):
    """The text needs more modules than the label has room for at the minimum module size."""


def min_module_dots(dpi: int) -> int:
    """Smallest module a phone reads reliably off thermal paper: ~0.4-0.5 mm."""
    return 5 if dpi >= 300 else 4


@dataclass(frozen=True)
class QRMatrix:
    text: str
    rows: np.ndarray  # bool, True = dark, quiet zone included

    @property
    def modules(self) -> int:
        return self.rows.shape[0]


@lru_cache(maxsize=64)
def _version_for(length: int) -> int:
    # Uppercase URLs use alphanumeric mode; the version depends only on the length,
    # so fitting (the slow part of qrcode) is done once per length.
    probe = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    probe.add_data("A" * length)
    probe.make(fit=True)
    return probe.version


@lru_cache(maxsize=1024)  # a reprint, or the same stamp on another template, costs nothing
def matrix(text: str) -> QRMatrix:
    """ECC M, model 2, with the 4-module quiet zone. The array is shared: do not modify it."""
    version = _version_for(len(text)) if _alphanumeric(text) else None
    code = qrcode.QRCode(version=version, error_correction=qrcode.constants.ERROR_CORRECT_M,
                         border=QUIET_MODULES)
    code.add_data(text, optimize=0)
    code.make(fit=version is None)
    return QRMatrix(text, np.array(code.get_matrix(), dtype=bool))


_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def _alphanumeric(text: str) -> bool:
    return all(c in _ALNUM for c in text)


def module_dots(qr: QRMatrix, box: int, dpi: int) -> int:
    """The largest whole-dot module that fits the box; refuse below the readable minimum."""
    dots = box // qr.modules
    if dots < min_module_dots(dpi):
        raise QRTooLarge(
            f"a {qr.modules}-module QR needs {qr.modules * min_module_dots(dpi)} dots at {dpi} dpi, "
            f"the label has {box}")
    return dots


def image(qr: QRMatrix, dots: int) -> Image.Image:
    """A "1"-mode image, each module exactly dots x dots; never resampled afterwards."""
    big = np.repeat(np.repeat(~qr.rows, dots, axis=0), dots, axis=1)  # True = white paper
    return Image.fromarray(big)
