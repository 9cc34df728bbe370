"""The simulated printer used by the demo and tests: each label becomes a PNG file."""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from PIL import Image

from station.printer.labels import layout_of
from station.printer.status import READY, PrinterStatus

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FilePrinter:
    """Always ready; writes atomically so a watcher never sees half a PNG."""

    def __init__(self, directory: Path, dpi: int = 300):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for half in self.directory.glob("*.png.part"):  # a label cut off by a crash never came out
            half.unlink(missing_ok=True)
        self.dpi = dpi
        self._lock = threading.Lock()
        self._count = 0

    def status(self) -> PrinterStatus:
        return READY

    def print_label(self, image: Image.Image, *, name: str | None = None) -> Path:
        layout = layout_of(image)
        stem = _UNSAFE.sub("_", name or (layout.serial if layout else "") or "label").strip("_") or "label"
        with self._lock:
            self._count += 1
            # A reprint of the same serial must not overwrite the first file.
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.directory / f"{stem}-{stamp}-{self._count:04d}.png"
            tmp = path.with_suffix(".png.part")
            image.save(tmp, format="PNG", dpi=(self.dpi, self.dpi))
            os.replace(tmp, path)
        return path

    def job_outcome(self, name: str) -> bool:
        """Did the job called `name` print? The file is written atomically, so it exists or not."""
        stem = _UNSAFE.sub("_", name).strip("_") or "label"
        return any(self.directory.glob(f"{stem}-*.png"))

    def close(self) -> None:
        pass
