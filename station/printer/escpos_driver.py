"""ESC/POS label and receipt printers: commands built by python-escpos, carried over our
own transports so every status query has a deadline and silence reads as 'offline'."""
from __future__ import annotations

import threading

from escpos.capabilities import get_profile
from escpos.constants import QR_ECLEVEL_M, RT_MASK_LOWPAPER, RT_MASK_NOPAPER, RT_STATUS_PAPER, TXT_STYLE
from escpos.escpos import Escpos
from PIL import Image

from station.config import PrinterConfig
from station.printer.labels import layout_of
from station.printer.status import PrinterError, PrinterStatus, PrintUnconfirmed
from station.printer.transport import Reopening, Transport, TransportError

DLE_EOT = b"\x10\x04"
# DLE EOT n real-time status (Epson ESC/POS reference); every reply has bits 1 and 4 set, 0 and 7 clear.
ONLINE, OFFLINE_CAUSE, ERROR_CAUSE = 1, 2, 3
_FIXED_MASK, _FIXED = 0x93, 0x12


class _Commands(Escpos):
    """python-escpos building bytes into a buffer, or talking through a Transport with a deadline."""

    def __init__(self, profile, conn: Transport | None = None, timeout: float = 1.0):
        super().__init__(profile=profile)
        self.buffer = bytearray()
        self._conn = conn
        self._timeout = timeout

    def _raw(self, msg: bytes) -> None:
        if self._conn is not None:
            self._conn.write(msg)
        else:
            self.buffer += msg

    def _read(self) -> bytes:
        return self._conn.read(1, self._timeout) if self._conn is not None else b""

    def take(self) -> bytes:
        out, self.buffer = bytes(self.buffer), bytearray()
        return out


def _valid(reply: bytes) -> bool:
    return len(reply) == 1 and reply[0] & _FIXED_MASK == _FIXED


class EscPosPrinter(Reopening):
    def __init__(self, target: str, profile: str | None = None, native_qr: bool | None = None,
                 timeout: float = 1.0):
        self.target = target
        self.profile_name = profile  # python-escpos profile (printer model), None = generic
        self.profile = get_profile(profile) if profile else get_profile()
        # The printer's own QR command gives crisp modules from a few bytes; printers whose
        # profile lacks it get the label as one raster image.
        self.native_qr = self.profile.supports("qrCode") if native_qr is None else native_qr
        self.timeout = timeout
        self._conn: Transport | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: PrinterConfig) -> "EscPosPrinter":
        if not cfg.target:
            raise ValueError("an ESC/POS printer needs printer.target (serial://..., tcp://..., usb://...)")
        return cls(cfg.target, profile=cfg.model)

    def _ask(self, conn: Transport, n: int) -> int | None:
        conn.write(DLE_EOT + bytes([n]))
        reply = conn.read(1, self.timeout)
        return reply[0] if _valid(reply) else None

    def _query(self) -> PrinterStatus:
        try:
            conn = self._connection()
            if not conn.can_read:
                return PrinterStatus.of("unknown", detail=f"{self.target} cannot answer status queries")
            conn.drain()
            # Paper through python-escpos's own query (DLE EOT 4), read with our deadline;
            # its paper_status() would report 'plenty' on silence, which we must not.
            paper_reply = _Commands(self.profile_name, conn, self.timeout).query_status(RT_STATUS_PAPER)
            cause = self._ask(conn, OFFLINE_CAUSE)
            errors = self._ask(conn, ERROR_CAUSE)
        except TransportError as exc:
            self._drop()
            return PrinterStatus.of("offline", detail=str(exc))
        if not _valid(paper_reply) or cause is None or errors is None:
            self._drop()
            return PrinterStatus.of("offline", detail=f"no status reply from {self.target}")
        p = paper_reply[0]
        paper = "out" if p & RT_MASK_NOPAPER == RT_MASK_NOPAPER else (
            "low" if p & RT_MASK_LOWPAPER == RT_MASK_LOWPAPER else "ok")
        detail = f"paper 0x{p:02x}, offline cause 0x{cause:02x}, error cause 0x{errors:02x}"
        if cause & 0x04:
            return PrinterStatus.of("cover_open", paper=paper, detail=detail)
        if paper == "out" or cause & 0x20:
            return PrinterStatus.of("no_paper", paper="out", detail=detail)
        if errors & 0x08:
            return PrinterStatus.of("cutter_jam", paper=paper, detail=detail)
        if errors & 0x60 or cause & 0x40:
            return PrinterStatus.of("error", paper=paper, detail=detail)
        return PrinterStatus.of("paper_low" if paper == "low" else "ready", paper=paper, detail=detail)

    def status(self) -> PrinterStatus:
        with self._lock:
            return self._query()

    def job(self, image: Image.Image) -> bytes:
        """The label's bytes: the printer's own QR plus the text as a raster, or the whole label as a raster."""
        esc = _Commands(self.profile_name)
        esc.hw("INIT")
        layout = layout_of(image)
        if self.native_qr and layout is not None:
            q = layout.qr
            esc._raw(TXT_STYLE["align"]["center"])
            # ESC/POS prints line by line: the QR comes first, the text block below it.
            esc.qr(q.text, ec=QR_ECLEVEL_M, size=min(q.module, 16), native=True)
            esc._raw(TXT_STYLE["align"]["left"])
            left, top, right, bottom = layout.text_box
            esc.image(image.crop((left, top, right, bottom)), center=False)
        else:
            esc.image(image, center=False)
        esc.cut(feed=False)  # labels: feed to the cut/tear position, no blank lines
        return esc.take()

    def print_label(self, image: Image.Image, *, name: str | None = None) -> None:
        data = self.job(image)
        with self._lock:
            status = self._query()
            if not status.ready:
                raise PrinterError(status)
            try:
                self._connection().write(data)
            except TransportError as exc:
                self._drop()
                raise PrintUnconfirmed(PrinterStatus.of("offline", detail=f"lost the printer mid-job: {exc}"))
            # ESC/POS has no 'printed' reply; a clean status after the job is the printer accepting it.
            after = self._query()
            if not after.ready:
                raise PrintUnconfirmed(after)

    def close(self) -> None:
        with self._lock:
            self._drop()
