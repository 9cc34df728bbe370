"""Zebra (ZPL II) label printers: the printer draws the QR itself (^BQ), the text goes as
a graphic field, and ~HS host status says whether paper, head and buffer are fine."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from PIL import Image

from station.config import PrinterConfig
from station.printer.labels import layout_of
from station.printer.status import PrinterError, PrinterStatus, PrintUnconfirmed
from station.printer.transport import Reopening, Transport, TransportError

HOST_STATUS = b"~HS"
ZEBRA_MAX_MAGNIFICATION = 10  # ^BQ magnification is 1..10 dots per module


@dataclass(frozen=True)
class HostStatus:
    """The three ~HS strings, the fields a print station acts on."""
    paper_out: bool
    paused: bool
    formats_in_buffer: int
    buffer_full: bool
    head_up: bool
    ribbon_out: bool
    labels_remaining: int

    @classmethod
    def parse(cls, raw: bytes) -> "HostStatus":
        # Each string is STX ... ETX CR LF; fields are comma separated.
        strings = [s.split(b"\x03")[0].decode("ascii").split(",") for s in raw.split(b"\x02")[1:]]
        if len(strings) < 3 or len(strings[0]) < 12 or len(strings[1]) < 11:
            raise ValueError(f"not a ZPL host status reply: {raw[:40]!r}")
        one, two = strings[0], strings[1]
        return cls(paper_out=one[1] == "1", paused=one[2] == "1", formats_in_buffer=int(one[4]),
                   buffer_full=one[5] == "1", head_up=two[2] == "1", ribbon_out=two[3] == "1",
                   labels_remaining=int(two[8]))


def _graphic_field(image: Image.Image) -> bytes:
    """^GFA (ASCII hex): ZPL marks a dot black with a 1 bit, Pillow's "1" mode with 0."""
    bw = image.convert("1")
    row_bytes = (bw.width + 7) // 8
    data = bytes(b ^ 0xFF for b in bw.tobytes())  # tobytes pads rows to whole bytes with 0 = black...
    if bw.width % 8:
        # ...so clear the padding bits again, or a black stripe prints at the right edge.
        keep = (0xFF << (8 - bw.width % 8)) & 0xFF
        rows = bytearray(data)
        for r in range(bw.height):
            rows[r * row_bytes + row_bytes - 1] &= keep
        data = bytes(rows)
    total = len(data)
    return f"^GFA,{total},{total},{row_bytes},".encode() + data.hex().upper().encode() + b"^FS"


class ZplPrinter(Reopening):
    def __init__(self, target: str, native_qr: bool = True, timeout: float = 1.5, print_timeout: float = 15.0):
        self.target = target
        self.native_qr = native_qr
        self.timeout = timeout
        self.print_timeout = print_timeout
        self._conn: Transport | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: PrinterConfig) -> "ZplPrinter":
        if not cfg.target:
            raise ValueError("a ZPL printer needs printer.target (tcp://host:9100, serial://...)")
        return cls(cfg.target)

    def _host_status(self, conn: Transport) -> HostStatus | None:
        conn.write(HOST_STATUS)
        deadline = time.monotonic() + self.timeout
        raw = b""
        while raw.count(b"\x03") < 3:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            raw += conn.read(256, left)
        return HostStatus.parse(raw)

    def _judge(self, hs: HostStatus) -> PrinterStatus:
        detail = (f"paper_out={hs.paper_out} head_up={hs.head_up} paused={hs.paused} "
                  f"buffer={hs.formats_in_buffer} remaining={hs.labels_remaining}")
        if hs.head_up:
            return PrinterStatus.of("cover_open", paper="unknown" if not hs.paper_out else "out", detail=detail)
        if hs.paper_out:
            return PrinterStatus.of("no_paper", paper="out", detail=detail)
        if hs.ribbon_out:
            return PrinterStatus.of("error", paper="ok", message="Hết ruy băng mực: lắp cuộn ruy băng mới",
                                    detail=detail)
        if hs.paused:
            return PrinterStatus.of("error", paper="ok", message="Máy in đang tạm dừng: bấm nút PAUSE trên máy in",
                                    detail=detail)
        if hs.buffer_full:
            return PrinterStatus.of("busy", paper="ok", detail=detail)
        return PrinterStatus.of("ready", paper="ok", detail=detail)

    def _query(self) -> tuple[PrinterStatus, HostStatus | None]:
        try:
            conn = self._connection()
            if not conn.can_read:
                return PrinterStatus.of("unknown", detail=f"{self.target} cannot answer ~HS"), None
            conn.drain()
            hs = self._host_status(conn)
        except (TransportError, ValueError) as exc:
            self._drop()
            return PrinterStatus.of("offline", detail=str(exc)), None
        if hs is None:
            self._drop()
            return PrinterStatus.of("offline", detail=f"no ~HS reply from {self.target}"), None
        return self._judge(hs), hs

    def status(self) -> PrinterStatus:
        with self._lock:
            return self._query()[0]

    def job(self, image: Image.Image) -> bytes:
        """One ^XA..^XZ format the size of the label."""
        layout = layout_of(image)
        parts = [b"^XA^CI28^LH0,0", f"^PW{image.width}^LL{image.height}".encode()]
        if self.native_qr and layout is not None and layout.qr.module <= ZEBRA_MAX_MAGNIFICATION:
            q = layout.qr
            blank = image.copy()
            blank.paste(1, (q.x, q.y, q.x + q.side, q.y + q.side))
            parts.append(b"^FO0,0" + _graphic_field(blank))
            quiet = 4 * q.module  # ^BQ draws no quiet zone; the blank square around it is the quiet zone
            # ECC M ("M" before the mode letter "A") as the rendered label uses, so the symbol fits its square.
            parts.append(f"^FO{q.x + quiet},{q.y + quiet}^BQN,2,{q.module}^FDMA,{q.text}^FS".encode())
        else:
            parts.append(b"^FO0,0" + _graphic_field(image))
        parts.append(b"^PQ1^XZ")
        return b"".join(parts)

    def print_label(self, image: Image.Image, *, name: str | None = None) -> None:
        data = self.job(image)
        with self._lock:
            status, _ = self._query()
            if not status.ready:
                raise PrinterError(status)
            conn = self._connection()
            try:
                conn.write(data)
            except TransportError as exc:
                self._drop()
                raise PrintUnconfirmed(PrinterStatus.of("offline", detail=f"lost the printer mid-job: {exc}"))
            self._await_done(conn)

    def _await_done(self, conn: Transport) -> None:
        """~HS until the format has left the buffer and nothing is waiting; any error means 'unknown'."""
        deadline = time.monotonic() + self.print_timeout
        while True:
            try:
                hs = self._host_status(conn)
            except (TransportError, ValueError) as exc:
                self._drop()
                raise PrintUnconfirmed(PrinterStatus.of("offline", detail=f"during the job: {exc}")) from None
            if hs is None:
                self._drop()
                raise PrintUnconfirmed(PrinterStatus.of("unknown", detail=f"no ~HS reply from {self.target}"))
            judged = self._judge(hs)
            if not judged.ready and judged.state != "busy":
                raise PrintUnconfirmed(judged)
            if hs.formats_in_buffer == 0 and hs.labels_remaining == 0:
                return
            if time.monotonic() > deadline:
                raise PrintUnconfirmed(PrinterStatus.of(
                    "unknown", detail=f"label still queued after {self.print_timeout:.0f} s"))
            time.sleep(0.05)

    def close(self) -> None:
        with self._lock:
            self._drop()
