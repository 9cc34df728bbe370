"""The market-stall flow as far as the spine needs it: stamps read from a camera
(or replayed photos) become `checked` events with the stall's place."""
from __future__ import annotations

import logging
import random
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.scanner.decode import decode_file
from tem import messages
from tem.stamp import StampURLError, parse_stamp_url

if TYPE_CHECKING:
    from station.runtime import Station

log = logging.getLogger(__name__)


class StallFlow:
    def __init__(self, station: "Station"):
        self.station = station
        self.cfg = station.cfg
        self.checked = 0
        self._stop = threading.Event()

    def start(self) -> None:
        if self.cfg.camera and self.cfg.camera.source == "replay":
            threading.Thread(target=self._replay, name="replay", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def telemetry(self) -> dict[str, Any]:
        return {}

    def handle(self, cmd: messages.Command) -> tuple[bool, str] | None:
        return None

    def check_photo(self, path: Path) -> list[str]:
        seen = []
        for payload in decode_file(path):
            try:
                ref = parse_stamp_url(payload, set(self.cfg.accepted_hosts) or None)
            except StampURLError:
                continue
            self.station.record("checked", serial=ref.serial, gtin=ref.gtin)
            seen.append(ref.serial)
        self.checked += len(seen)
        return seen

    def _replay(self) -> None:
        # Demo: a folder that another station keeps filling with label images.
        assert self.cfg.camera is not None
        folder = Path(self.cfg.camera.device)
        while not self._stop.wait(1 / self.cfg.camera.fps):
            photos = sorted(folder.glob("*.png")) if folder.is_dir() else []
            if photos:
                self.check_photo(random.choice(photos[-50:]))
