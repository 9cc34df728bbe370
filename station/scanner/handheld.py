"""Handheld barcode scanners feeding the same flow as the camera.

- Serial (and USB-CDC) scanners through pyserial: each code arrives as a line ending in
  CR and/or LF. A scanner that is unplugged is reopened; the station keeps running.
- USB-HID "keyboard wedge" scanners type the code as key presses. On the station's
  screen they simply type into the page's focused scan box (no driver needed). Without a
  screen, `HidScanner` reads the evdev device directly — only when the `evdev` package
  is installed (`pip install evdev`, Linux only); otherwise it says so and does nothing.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
LINE_END = re.compile(rb"[\r\n]+")
MAX_LINE = 1024  # a scanner that never sends an end of line must not fill memory


class SerialScanner:
    def __init__(self, port: str, baud: int, on_text: Callable[[str], None], retry_s: float = 2.0):
        self.port, self.baud = port, baud
        self.on_text = on_text
        self.retry_s = retry_s
        self.status = "Đang mở máy quét…"
        self.error: str | None = None
        self.lines = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serial-scanner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        import serial

        while not self._stop.is_set():
            try:
                with serial.Serial(self.port, self.baud, timeout=0.3) as port:
                    self.error = None
                    self.status = f"Máy quét {self.port} sẵn sàng"
                    self._read(port)
            except (serial.SerialException, OSError) as exc:
                self.error = f"Mất kết nối máy quét {self.port}. Đang thử lại…"
                self.status = self.error
                log.warning("serial scanner %s: %s", self.port, exc)
                self._stop.wait(self.retry_s)

    def _read(self, port) -> None:  # type: ignore[no-untyped-def]
        buf = b""
        while not self._stop.is_set():
            chunk = port.read(port.in_waiting or 1)
            if not chunk:
                continue
            buf += chunk
            *lines, buf = LINE_END.split(buf)
            buf = buf[-MAX_LINE:]
            for raw in lines:
                text = raw.decode("utf-8", errors="replace").strip()
                if text:
                    self.lines += 1
                    try:
                        self.on_text(text)
                    except Exception:
                        log.exception("handling a scanned line failed")


def evdev_available() -> bool:
    try:
        import evdev  # noqa: F401
    except ImportError:
        return False
    return True


class HidScanner:
    """A keyboard-wedge scanner read from /dev/input/eventN (grabbed, so its keys go nowhere else)."""

    def __init__(self, device: str, on_text: Callable[[str], None]):
        self.device = device
        self.on_text = on_text
        self.status = ("" if evdev_available() else
                       "Máy quét USB dạng bàn phím cần gói evdev; dùng ô quét trên màn hình.")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hid-scanner", daemon=True)

    def start(self) -> None:
        if evdev_available():
            self._thread.start()
        else:
            log.warning("hid_device %s configured but the evdev package is not installed", self.device)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import evdev
        from evdev import ecodes

        keys = {getattr(ecodes, f"KEY_{c}"): c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}
        plain = {ecodes.KEY_DOT: ".", ecodes.KEY_SLASH: "/", ecodes.KEY_MINUS: "-", ecodes.KEY_SEMICOLON: ";",
                 ecodes.KEY_EQUAL: "=", ecodes.KEY_SPACE: " "}
        shifted = {ecodes.KEY_SEMICOLON: ":", ecodes.KEY_SLASH: "?", ecodes.KEY_MINUS: "_", ecodes.KEY_7: "&"}
        while not self._stop.is_set():
            try:
                dev = evdev.InputDevice(self.device)
                dev.grab()
                self.status = f"Máy quét {self.device} sẵn sàng"
                shift, text = False, []
                for ev in dev.read_loop():
                    if self._stop.is_set():
                        break
                    if ev.type != ecodes.EV_KEY:
                        continue
                    if ev.code in (ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT):
                        shift = ev.value != 0
                        continue
                    if ev.value != 1:  # key down only
                        continue
                    if ev.code in (ecodes.KEY_ENTER, ecodes.KEY_KPENTER):
                        if text:
                            self.on_text("".join(text))
                        text = []
                    elif shift and ev.code in shifted:
                        text.append(shifted[ev.code])
                    elif ev.code in keys:
                        text.append(keys[ev.code].upper() if shift else keys[ev.code])
                    elif ev.code in plain:
                        text.append(plain[ev.code])
                    text = text[-MAX_LINE:]
            except OSError as exc:
                self.status = f"Mất kết nối máy quét {self.device}. Đang thử lại…"
                log.warning("hid scanner %s: %s", self.device, exc)
                self._stop.wait(2)
