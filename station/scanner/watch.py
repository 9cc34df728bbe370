"""The camera loop both scan flows share: frames → decode (within the budget) → Deduper →
`on_payload` for each newly seen stamp. A camera that goes away is shown and reopened;
nothing here raises into the station."""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from station.config import CameraConfig
from station.scanner.capture import (
    IMAGE_SUFFIXES,
    CameraError,
    FrameSource,
    ResilientSource,
    open_source,
)
from station.scanner.decode import Deduper, decode

log = logging.getLogger(__name__)


class FollowFolder:
    """Replay for a folder that keeps filling (the demo's label directory): each new image once,
    newest last; with nothing new, one of the latest 50 again, as a vendor re-checking a pack."""

    def __init__(self, cfg: CameraConfig, rng: random.Random | None = None):
        self.folder = Path(cfg.device)
        self.period = 1.0 / cfg.fps
        self._seen: set[str] = set()
        self._next_at = 0.0
        self._rng = rng or random.Random()
        if not self.folder.is_dir():
            raise CameraError(f"replay directory {self.folder} does not exist",
                              "Không tìm thấy thư mục ảnh phát lại.")

    def read(self) -> np.ndarray | None:
        import cv2

        wait = self._next_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next_at = time.monotonic() + self.period
        if not self.folder.is_dir():
            raise CameraError(f"replay directory {self.folder} disappeared")
        photos = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise CameraError(f"replay directory {self.folder} holds no images yet",
                              "Chưa có ảnh nào để đọc.")
        new = [p for p in photos if p.name not in self._seen]
        pick = new[0] if new else self._rng.choice(photos[-50:])
        self._seen.add(pick.name)
        frame = cv2.imread(str(pick), cv2.IMREAD_COLOR)
        if frame is None:  # a label still being written: try again next tick
            self._seen.discard(pick.name)
            return np.zeros((8, 8, 3), np.uint8)
        return frame

    def close(self) -> None:
        pass


def follow_opener(cfg: CameraConfig) -> FrameSource:
    return FollowFolder(cfg)


class CameraWatch:
    def __init__(self, cfg: CameraConfig, hosts: frozenset[str] | None, on_payload: Callable[[str], None],
                 hold_s: float = 2.0, opener: Callable[[CameraConfig], FrameSource] = open_source):
        self.cfg = cfg
        self.hosts = hosts
        self.on_payload = on_payload
        self.source = ResilientSource(cfg, opener=opener, on_error=self._on_error)
        self.deduper = Deduper(hold_s)
        self.frames = 0
        self.status = "Đang mở camera…"
        self.error: str | None = None
        self.ended = False
        self._rate: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _on_error(self, exc: CameraError) -> None:
        log.warning("camera: %s", exc)
        self.error = exc.message_vi
        self.status = exc.message_vi

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.source.close()

    def decode_rate(self) -> float:
        now = time.monotonic()
        recent = [t for t in self._rate if now - t <= 10]
        return round(len(recent) / 10, 2)

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.source.read()
            if frame is None:
                if self.source.ended:
                    self.ended = True
                    self.status = "Đã phát hết ảnh"
                    return
                self._stop.wait(0.2)  # camera away; ResilientSource paces the reopening
                continue
            self.error = None
            self.status = "Camera đang hoạt động"
            try:
                payloads = decode(frame, self.hosts, self.cfg.budget_ms)
            except Exception:  # a decoder bug on one odd frame must not stop the line
                log.exception("decoding a frame failed")
                continue
            self.frames += 1
            now = time.monotonic()
            self._rate = [t for t in self._rate if now - t <= 10] + [now]
            for payload in self.deduper.new(payloads):
                try:
                    self.on_payload(payload)
                except Exception:
                    log.exception("handling %s failed", payload)
