"""Brother QL label printers: raster jobs built by brother_ql (the brother-ql-next fork),
status read back over USB or /dev/usb/lp*, wrong rolls refused before anything is sent."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from brother_ql.conversion import convert
from brother_ql.models import ModelsManager
from brother_ql.raster import BrotherQLRaster
from PIL import Image

from station.config import PrinterConfig
from station.printer import labels
from station.printer.status import PrinterError, PrinterStatus, PrintUnconfirmed
from station.printer.transport import Reopening, Transport, TransportError

STATUS_LENGTH = 32
STATUS_HEADER = b"\x80\x20\x42"
STATUS_REQUEST = b"\x1b\x69\x53"  # ESC i S
INITIALIZE = b"\x1b\x40"

# The roll each template needs: (width mm, die-cut length mm or 0 for endless, roll name to ask for).
MEDIA = {
    "62": (62, 0, "DK-22205 (62 mm liên tục)"),
    "62x29": (62, 29, "DK-11209 (62×29 mm)"),
    "29x90": (29, 90, "DK-11201 (29×90 mm)"),
}
CONTINUOUS = (0x0A, 0x4A)  # QL-800-series manuals give 4Ah/4Bh, older ones 0Ah/0Bh
DIE_CUT = (0x0B, 0x4B)

STATUS_REPLY, PRINTING_COMPLETED, ERROR_OCCURRED, TURNED_OFF, NOTIFICATION, PHASE_CHANGE = 0, 1, 2, 4, 5, 6


@dataclass(frozen=True)
class QLStatus:
    """The 32-byte status reply, the fields a print station acts on."""
    raw: bytes
    model_code: int
    error1: int
    error2: int
    media_width: int
    media_type: int
    media_length: int
    status_type: int
    phase: int

    @classmethod
    def parse(cls, raw: bytes) -> "QLStatus":
        if len(raw) != STATUS_LENGTH or not raw.startswith(STATUS_HEADER):
            raise ValueError(f"not a Brother status reply: {raw[:8].hex(' ')}")
        return cls(raw, raw[4], raw[8], raw[9], raw[10], raw[11], raw[17], raw[18], raw[19])

    @property
    def endless(self) -> bool:
        return self.media_type in CONTINUOUS

    def media_name(self) -> str:
        if self.media_type == 0 or self.media_width == 0:
            return "no roll"
        if self.endless:
            return f"{self.media_width} mm endless"
        return f"{self.media_width}x{self.media_length} mm die-cut"


# Error bits from Brother's raster command references (QL-700/710W/720NW/800/810W/820NWB).
_ERROR1 = {0x01: "no_paper", 0x02: "no_paper", 0x04: "cutter_jam", 0x10: "busy", 0x20: "offline", 0x80: "error"}
_ERROR2 = {0x01: "wrong_media", 0x02: "error", 0x04: "error", 0x08: "error", 0x10: "cover_open",
           0x40: "feed_error", 0x80: "error"}
_DETAIL1 = {0x01: "no media", 0x02: "end of media", 0x04: "cutter jam", 0x10: "printer in use",
            0x20: "printer turned off", 0x80: "fan error"}
_DETAIL2 = {0x01: "replace media", 0x02: "expansion buffer full", 0x04: "communication error",
            0x08: "image error", 0x10: "cover open", 0x40: "media cannot be fed", 0x80: "system error"}
# When several errors are set, tell the worker about the one to fix first.
_PRIORITY = ["cover_open", "no_paper", "cutter_jam", "wrong_media", "feed_error", "offline", "busy", "error"]


def judge(st: QLStatus, template: str) -> PrinterStatus:
    """Map a status reply to what the station shows, including a roll that does not match the template."""
    states, details = [], []
    for bits, names, texts in ((st.error1, _ERROR1, _DETAIL1), (st.error2, _ERROR2, _DETAIL2)):
        for bit, name in names.items():
            if bits & bit:
                states.append(name)
                details.append(texts[bit])
    loaded = st.media_name()
    if states:
        state = min(states, key=_PRIORITY.index)
        paper = "out" if state == "no_paper" else "unknown"
        return PrinterStatus.of(state, paper=paper, detail=f"{', '.join(details)}; roll: {loaded}")
    if st.media_type == 0 or st.media_width == 0:
        return PrinterStatus.of("no_paper", paper="out", detail="no roll loaded")
    width, length, roll = MEDIA[template]
    matches = st.media_width == width and (
        (length == 0 and st.endless) or (length and st.media_type in DIE_CUT and st.media_length == length))
    if not matches:
        return PrinterStatus.of("wrong_media", paper="ok",
                                message=f"Sai loại nhãn: lắp cuộn {roll}",
                                detail=f"template {template} needs {roll.split(' ')[0]}, loaded: {loaded}")
    if st.phase == 1:
        return PrinterStatus.of("busy", paper="ok", detail="printer is printing")
    return PrinterStatus.of("ready", paper="ok", detail=f"roll: {loaded}")


class BrotherQLPrinter(Reopening):
    """One QL printer on one connection. Jobs are serialised: the printer handles one at a time."""

    def __init__(self, target: str, model: str = "QL-800", template: str = "62x29",
                 black_red_roll: bool = False, status_timeout: float = 1.5, print_timeout: float = 15.0):
        if template not in MEDIA:
            raise ValueError(f"template {template} is not a Brother DK roll; use one of {', '.join(MEDIA)}")
        self.model = ModelsManager()[model]  # KeyError names an unknown model early, at start-up
        if black_red_roll and not self.model.two_color:
            raise ValueError(f"{model} cannot print on black/red rolls")
        self.model_name = model
        self.target = target
        self.template = template
        # QL-800-series printers reject a job sent to a black/red DK-22251 roll unless it is a
        # two-colour raster (the lamp just blinks); on a plain black roll they want the plain one.
        self.red = black_red_roll
        self.status_timeout = status_timeout
        self.print_timeout = print_timeout
        # brother_ql's network backend cannot read status; neither can the raw port 9100.
        self.network = target.startswith("tcp://")
        self._conn: Transport | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: PrinterConfig) -> "BrotherQLPrinter":
        if not cfg.target:
            raise ValueError("a Brother QL printer needs printer.target (usb://..., /dev/usb/lp0, tcp://...)")
        if cfg.dpi != 300:
            raise ValueError("Brother QL printers print at 300 dpi; set printer.dpi = 300")
        return cls(cfg.target, cfg.model or "QL-800", cfg.template,
                   black_red_roll=cfg.black_red_roll)

    # -- status ----------------------------------------------------------------------
    def _read_status(self, conn: Transport, timeout: float) -> QLStatus | None:
        """The next complete status frame, resynchronising on the header if bytes were lost."""
        deadline = time.monotonic() + timeout
        buf = b""
        while True:
            start = buf.find(STATUS_HEADER)
            if start > 0:
                buf = buf[start:]
            if len(buf) >= STATUS_LENGTH and buf.startswith(STATUS_HEADER):
                return QLStatus.parse(buf[:STATUS_LENGTH])
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            buf += conn.read(STATUS_LENGTH - len(buf) if buf.startswith(STATUS_HEADER) else STATUS_LENGTH, left)

    def _query(self) -> tuple[PrinterStatus, QLStatus | None]:
        if self.network:
            return PrinterStatus(
                ready=False, state="unknown", paper="unknown",
                message="Máy in qua mạng không báo trạng thái: xem nhãn đã in ra chưa",
                detail="Brother QL status cannot be read over the raw network port (needs SNMP)"), None
        try:
            conn = self._connection()
            conn.drain()
            # Invalidate clears a half-received job; then initialise and ask for status.
            conn.write(b"\x00" * self.model.num_invalidate_bytes + INITIALIZE + STATUS_REQUEST)
            deadline = time.monotonic() + self.status_timeout
            while True:
                reply = self._read_status(conn, deadline - time.monotonic())
                # Skip late notifications from the last job (phase change, cooling): only a
                # 'reply to status request' describes the printer now.
                if reply is None or reply.status_type == STATUS_REPLY:
                    break
        except (TransportError, ValueError) as exc:
            self._drop()
            return PrinterStatus.of("offline", detail=str(exc)), None
        if reply is None:
            self._drop()
            return PrinterStatus.of("offline", detail=f"no status reply from {self.target}"), None
        return judge(reply, self.template), reply

    def status(self) -> PrinterStatus:
        with self._lock:
            return self._query()[0]

    # -- printing --------------------------------------------------------------------
    def raster(self, image: Image.Image) -> bytes:
        """The job's bytes: a fresh BrotherQLRaster each time (one reused across jobs
        keeps state and the QL-800 then rejects the second label)."""
        expected = labels.size(self.template, 300)
        if image.size != expected:
            raise ValueError(f"label image is {image.size}, the {self.template} roll needs exactly {expected}")
        qlr = BrotherQLRaster(self.model_name)
        qlr.exception_on_warning = True  # never let brother_ql resize the label silently
        source = image.convert("RGB") if self.red else image
        return convert(qlr, [source], self.template, cut=True, red=self.red, rotate=0,
                       compress=self.model.compression, dither=False)

    def print_label(self, image: Image.Image, *, name: str | None = None) -> None:
        job = self.raster(image)
        with self._lock:
            status, _ = self._query()
            if self.network:
                return self._send_unconfirmed(job, status)
            if not status.ready:
                raise PrinterError(status)
            conn = self._connection()
            try:
                conn.write(job)
            except TransportError as exc:
                self._drop()
                raise PrintUnconfirmed(PrinterStatus.of("offline", detail=f"lost the printer mid-job: {exc}"))
            self._await_completion(conn)

    def _send_unconfirmed(self, job: bytes, status: PrinterStatus) -> None:
        try:
            self._connection().write(job)
        except TransportError as exc:
            self._drop()
            # Not even sent: nothing printed.
            raise PrinterError(PrinterStatus.of("offline", detail=str(exc))) from None
        self._drop()  # the QL closes the raw port after each job
        raise PrintUnconfirmed(status)

    def _await_completion(self, conn: Transport) -> None:
        """Wait for 'printing completed'; an error reply or silence means the label's fate is unknown."""
        deadline = time.monotonic() + self.print_timeout
        while True:
            try:
                reply = self._read_status(conn, deadline - time.monotonic())
            except (TransportError, ValueError) as exc:
                self._drop()
                raise PrintUnconfirmed(PrinterStatus.of("offline", detail=f"during the job: {exc}")) from None
            if reply is None:
                self._drop()
                raise PrintUnconfirmed(PrinterStatus.of(
                    "unknown", detail=f"no 'printing completed' from {self.target} within {self.print_timeout:.0f} s"))
            if reply.status_type == ERROR_OCCURRED or reply.error1 or reply.error2:
                raise PrintUnconfirmed(judge(reply, self.template))
            if reply.status_type == PRINTING_COMPLETED:
                return

    def close(self) -> None:
        with self._lock:
            self._drop()
