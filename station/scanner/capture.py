"""Frame sources behind one small interface: a V4L2/USB camera, a Pi camera, or a replayed directory or video."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from station.config import CameraConfig

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".mjpeg", ".mjpg"})


class CameraError(RuntimeError):
    """The camera cannot give frames. `message_vi` is for the worker's screen, str() for the log."""

    def __init__(self, detail: str, message_vi: str = "Mất kết nối camera. Đang thử kết nối lại…"):
        super().__init__(detail)
        self.detail = detail
        self.message_vi = message_vi


class FrameSource(Protocol):
    def read(self) -> np.ndarray | None:
        """The next BGR frame; None when a replay has ended; raises CameraError when the device is gone."""

    def close(self) -> None: ...


class VideoCaptureSource:
    """A USB/V4L2 camera (or a video file) through OpenCV."""

    def __init__(self, target: int | str, width: int | None = None, height: int | None = None,
                 fps: float | None = None, exposure: float | None = None, api: int | None = None):
        import cv2

        self.target = target
        self._cap = cv2.VideoCapture(target, api) if api is not None else cv2.VideoCapture(target)
        if not self._cap.isOpened():
            self._cap.release()
            raise CameraError(f"cannot open camera {target!r}",
                              f"Không mở được camera {target}. Kiểm tra dây cáp USB.")
        if width:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        if exposure is not None:
            # V4L2: 1 = manual exposure mode (3 = aperture priority, i.e. automatic)
            self._cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)
            self._cap.set(cv2.CAP_PROP_EXPOSURE, exposure)

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise CameraError(f"camera {self.target!r} is closed")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraError(f"camera {self.target!r} returned no frame (unplugged?)")
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class PiCameraSource:
    """The Raspberry Pi camera through picamera2 (only where it is installed)."""

    def __init__(self, width: int, height: int, fps: float, exposure: float | None = None):
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError(f"picamera2 is not installed: {exc}",
                              "Chưa cài phần mềm camera Pi (picamera2).") from None
        try:
            self._cam = Picamera2()
            config = self._cam.create_video_configuration(
                main={"size": (width, height), "format": "RGB888"},
                controls={"FrameRate": fps} | ({"ExposureTime": int(exposure)} if exposure else {}))
            self._cam.configure(config)
            self._cam.start()
        except Exception as exc:  # libcamera raises many kinds; all mean "no camera"
            raise CameraError(f"cannot start the Pi camera: {exc}",
                              "Không mở được camera Pi. Kiểm tra cáp camera.") from None

    def read(self) -> np.ndarray | None:
        try:
            # picamera2 names formats the DRM way: "RGB888" is stored B,G,R, as OpenCV expects.
            return self._cam.capture_array("main")
        except Exception as exc:
            raise CameraError(f"Pi camera stopped giving frames: {exc}") from None

    def close(self) -> None:
        try:
            self._cam.stop()
            self._cam.close()
        except Exception:
            pass


class ReplaySource:
    """Plays a directory of images (sorted by name) or a video file at a set rate, like a camera.

    Removing the directory or file while playing behaves like an unplugged camera."""

    def __init__(self, path: str | Path, fps: float | None = None, loop: bool = False,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.path = Path(path)
        self.fps = fps
        self.loop = loop
        self._clock, self._sleep = clock, sleep
        self._next_at: float | None = None
        self._video = None
        self._index = 0
        if self.path.is_dir():
            self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._files:
                raise CameraError(f"replay directory {self.path} holds no images",
                                  "Thư mục ảnh phát lại không có ảnh nào.")
        elif self.path.is_file():
            self._files = []
            self._open_video()
        else:
            raise CameraError(f"replay source {self.path} does not exist",
                              "Không tìm thấy nguồn ảnh phát lại.")

    def _open_video(self) -> None:
        import cv2

        self._video = cv2.VideoCapture(str(self.path))
        if not self._video.isOpened():
            raise CameraError(f"cannot open video {self.path}", "Không mở được tệp video.")

    def _pace(self) -> None:
        if not self.fps:
            return
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            self._sleep(self._next_at - now)
            now = self._next_at
        self._next_at = max(now, self._next_at or now) + 1.0 / self.fps

    def read(self) -> np.ndarray | None:
        import cv2

        self._pace()
        if self._video is not None:
            if not self.path.exists():
                raise CameraError(f"replay video {self.path} disappeared")
            ok, frame = self._video.read()
            if not ok:
                if not self.loop:
                    return None
                self._video.release()
                self._open_video()
                ok, frame = self._video.read()
                if not ok:
                    raise CameraError(f"replay video {self.path} gives no frames")
            return frame
        if self._index >= len(self._files):
            if not self.loop:
                return None
            self._index = 0
        if not self.path.is_dir():
            raise CameraError(f"replay directory {self.path} disappeared")
        path = self._files[self._index]
        self._index += 1
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise CameraError(f"replay image {path} is missing or unreadable")
        return frame

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None


def _device(device: str) -> int | str:
    return int(device) if device.isdigit() else device


def open_source(cfg: CameraConfig) -> FrameSource:
    """Open the configured source once; raises CameraError with a Vietnamese message when it cannot."""
    if cfg.source == "replay":
        return ReplaySource(cfg.device, fps=cfg.fps, loop=cfg.loop)
    if cfg.source == "picamera2":
        return PiCameraSource(cfg.width, cfg.height, cfg.fps, cfg.exposure)
    import cv2

    api = cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") else None
    return VideoCaptureSource(_device(cfg.device), cfg.width, cfg.height, cfg.fps, cfg.exposure, api)


class ResilientSource:
    """Wraps open_source: a camera that fails is closed, reported, and reopened with backoff.

    read() never raises: it returns a frame, or None while the camera is away (then
    `error` holds the CameraError to show) or when a replay has ended (`ended` is True)."""

    def __init__(self, cfg: CameraConfig, opener: Callable[[CameraConfig], FrameSource] = open_source,
                 backoff_s: tuple[float, float] = (0.5, 30.0), clock: Callable[[], float] = time.monotonic,
                 on_error: Callable[[CameraError], None] | None = None):
        self.cfg = cfg
        self._opener = opener
        self._backoff_min, self._backoff_max = backoff_s
        self._delay = self._backoff_min
        self._clock = clock
        self._on_error = on_error
        self._source: FrameSource | None = None
        self._retry_at = 0.0
        self.error: CameraError | None = None
        self.ended = False
        self.reopens = 0

    def _fail(self, exc: CameraError) -> None:
        if self._source is not None:
            try:
                self._source.close()
            except Exception:
                pass
            self._source = None
        self.error = exc
        self._retry_at = self._clock() + self._delay
        self._delay = min(self._delay * 2, self._backoff_max)
        if self._on_error is not None:
            self._on_error(exc)

    def read(self) -> np.ndarray | None:
        if self._source is None:
            if self._clock() < self._retry_at:
                return None
            try:
                self._source = self._opener(self.cfg)
                if self.error is not None:
                    self.reopens += 1
            except CameraError as exc:
                self._fail(exc)
                return None
            except Exception as exc:  # a driver bug must not take the station down
                self._fail(CameraError(f"opening the camera failed: {exc!r}"))
                return None
        try:
            frame = self._source.read()
        except CameraError as exc:
            self._fail(exc)
            return None
        except Exception as exc:
            self._fail(CameraError(f"reading the camera failed: {exc!r}"))
            return None
        if frame is None:
            self.ended = True
            return None
        self.error = None
        self._delay = self._backoff_min
        return frame

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
