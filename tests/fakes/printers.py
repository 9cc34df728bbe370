"""Fake printers on pseudo-terminals: they parse what the station sends as the firmware would,
answer status queries with the real reply formats, turn each job back into an image, and
can be told to run out of paper, open the cover, load another roll or fall silent."""
from __future__ import annotations

import os
import select
import threading
import time
import tty
from dataclasses import dataclass, field

import numpy as np
import qrcode
from brother_ql.reader import OPCODES, match_opcode
from PIL import Image


@dataclass
class Page:
    image: Image.Image  # what would come out of the printer, "1" mode
    qr_payloads: list[str] = field(default_factory=list)  # QR texts sent as native printer commands
    red: Image.Image | None = None  # Brother two-colour jobs: the red plane
    media: tuple[int, int] | None = None  # Brother: (width mm, length mm) the job was made for


class PtyPrinter:
    """The printer end of a pseudo-terminal; the driver opens `path` as its device."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # byte-exact line, like a USB printer class device
        self.path = os.ttyname(self.slave)
        self.pages: list[Page] = []
        self.received = bytearray()
        self.protocol_errors: list[str] = []
        self.silent = False  # True: swallow everything, answer nothing (unplugged data line)
        self._buf = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=type(self).__name__)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                continue
            self.received += chunk
            if self.silent:
                continue
            self._buf += chunk
            try:
                self.feed()
            except Exception as exc:  # a fake must report a parse failure, not die quietly
                self.protocol_errors.append(repr(exc))
                self._buf.clear()

    def reply(self, data: bytes) -> None:
        os.write(self.master, data)

    def feed(self) -> None:
        raise NotImplementedError

    def wait_pages(self, n: int, timeout: float = 5.0) -> list[Page]:
        deadline = time.monotonic() + timeout
        while len(self.pages) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.pages

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


# --- Brother QL -------------------------------------------------------------------------

QL_MODEL_CODES = {"QL-700": 0x35, "QL-710W": 0x36, "QL-720NW": 0x37, "QL-800": 0x38, "QL-810W": 0x39,
                  "QL-820NWB": 0x41}


class FakeBrotherQL(PtyPrinter):
    """A QL printer with a DK roll loaded. `roll` is (width mm, length mm), length 0 for endless."""

    def __init__(self, model: str = "QL-800", roll: tuple[int, int] = (62, 29), red_roll: bool = False):
        self.model_code = QL_MODEL_CODES[model]
        self.roll: tuple[int, int] | None = roll
        self.red_roll = red_roll
        self.cover_open = False
        self.cutter_jam = False
        self.answer_print = True  # False: take the job, never say 'printing completed'
        self._job_reset()
        super().__init__()

    def _job_reset(self) -> None:
        self.compression = False
        self.two_colour = False
        self.job_media: tuple[int, int, int] | None = None
        self.black_rows: list[bytes] = []
        self.red_rows: list[bytes] = []

    def run_out_of_paper(self) -> None:
        self.roll = None

    def load_roll(self, roll: tuple[int, int], red_roll: bool = False) -> None:
        self.roll, self.red_roll = roll, red_roll

    def status_bytes(self, status_type: int = 0, phase: int = 0) -> bytes:
        err1 = (0x01 if self.roll is None else 0) | (0x04 if self.cutter_jam else 0)
        err2 = 0x10 if self.cover_open else 0
        b = bytearray(32)
        b[0:8] = bytes([0x80, 0x20, 0x42, 0x34, self.model_code, 0x30, 0x30, 0x00])
        b[8], b[9] = err1, err2
        if self.roll is not None:
            width, length = self.roll
            b[10], b[11], b[17] = width, (0x0A if length == 0 else 0x0B), length
            b[25] = 0x81 if not self.red_roll else 0x82
        b[14] = 0x3F
        b[18], b[19] = status_type, phase
        return bytes(b)

    def feed(self) -> None:
        buf = self._buf
        while buf:
            try:
                opcode = match_opcode(bytes(buf[:5]))
            except AssertionError:
                if len(buf) >= 5:
                    self.protocol_errors.append(f"unknown Brother opcode {bytes(buf[:5]).hex(' ')}")
                    del buf[0]
                    continue
                return  # wait for the rest of the command
            name, length, _ = OPCODES[opcode]
            need = len(opcode) + max(length, 0)
            if "raster" in name:
                if len(buf) < 3:
                    return
                need = 3 + buf[2]
            if len(buf) < need:
                return
            cmd, payload = bytes(buf[:need]), bytes(buf[len(opcode):need])
            del buf[:need]
            self._command(name, cmd, payload)

    def _command(self, name: str, cmd: bytes, payload: bytes) -> None:
        if name == "init":
            self._job_reset()
        elif name == "status request":
            self.reply(self.status_bytes())
        elif name == "compression":
            self.compression = payload[0] == 0x02
        elif name == "expanded":
            self.two_colour = bool(payload[0] & 0x01)
        elif name == "media/quality":
            self.job_media = (payload[1], payload[2], payload[3])  # type, width, length
        elif name == "raster":
            self.black_rows.append(self._row(cmd[3:]))
        elif name == "2-color raster":
            (self.black_rows if cmd[1] == 0x01 else self.red_rows).append(self._row(cmd[3:]))
        elif name == "print":
            self._print()

    def _row(self, data: bytes) -> bytes:
        if not self.compression:
            return data
        row, i = bytearray(), 0  # TIFF PackBits
        while i < len(data):
            n = data[i] - 256 if data[i] > 127 else data[i]
            if n < 0:
                row += bytes([data[i + 1]]) * (1 - n)
                i += 2
            else:
                row += data[i + 1:i + 2 + n]
                i += 2 + n
        return bytes(row)

    def _error(self, err2_extra: int = 0) -> None:
        status = bytearray(self.status_bytes(status_type=2))
        status[9] |= err2_extra
        self.reply(bytes(status))

    def _print(self) -> None:
        rows, red_rows = self.black_rows, self.red_rows
        self.black_rows, self.red_rows = [], []
        if self.roll is None or self.cover_open or self.cutter_jam:
            return self._error()
        mtype, width, length = self.job_media or (0, 0, 0)
        roll_width, roll_length = self.roll
        if width != roll_width or (roll_length and length != roll_length) or (self.red_roll and not self.two_colour):
            return self._error(0x01)  # 'replace media': the lamp blinks, nothing prints
        self.pages.append(Page(_raster_image(rows), red=_raster_image(red_rows) if red_rows else None,
                               media=(width, length)))
        if self.answer_print:
            self.reply(self.status_bytes(status_type=6, phase=1))
            self.reply(self.status_bytes(status_type=1, phase=1))
            self.reply(self.status_bytes(status_type=6, phase=0))


def _raster_image(rows: list[bytes]) -> Image.Image:
    # Raster bits are 1 = black and the head prints them mirrored (brother_ql.reader does the same).
    data = bytes(b ^ 0xFF for b in b"".join(rows))
    im = Image.frombytes("1", (len(rows[0]) * 8, len(rows)), data)
    return im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


# --- ESC/POS ----------------------------------------------------------------------------

class FakeEscPos(PtyPrinter):
    """A thermal printer speaking ESC/POS, paper `width` dots wide; each cut ends a page."""

    QR_ECC = {48: qrcode.constants.ERROR_CORRECT_L, 49: qrcode.constants.ERROR_CORRECT_M,
              50: qrcode.constants.ERROR_CORRECT_Q, 51: qrcode.constants.ERROR_CORRECT_H}

    def __init__(self, width: int = 576, supports_qr: bool = True):
        self.width = width
        self.supports_qr = supports_qr
        self.paper = "ok"  # ok | low | out
        self.cover_open = False
        self.cutter_jam = False
        self._page_reset()
        super().__init__()

    def _page_reset(self) -> None:
        self.strips: list[Image.Image] = []
        self.align = 0
        self.qr_size, self.qr_ecc, self.qr_data = 3, 48, b""
        self.qr_payloads: list[str] = []

    def status_byte(self, n: int) -> int:
        b = 0x12
        if n == 1 and (self.cover_open or self.paper == "out" or self.cutter_jam):
            b |= 0x08  # offline
        if n == 2:
            b |= (0x04 if self.cover_open else 0) | (0x20 if self.paper == "out" else 0)
            b |= 0x40 if self.cutter_jam else 0
        if n == 3 and self.cutter_jam:
            b |= 0x08
        if n == 4:
            b |= {"ok": 0, "low": 0x0C, "out": 0x6C}[self.paper]
        return b

    def _place(self, im: Image.Image) -> None:
        strip = Image.new("1", (self.width, im.height), 1)
        x = {0: 0, 1: (self.width - im.width) // 2, 2: self.width - im.width}[self.align]
        strip.paste(im, (max(x, 0), 0))
        self.strips.append(strip)

    def feed(self) -> None:
        buf = self._buf
        while buf:
            c = buf[0]
            if c == 0x10:  # DLE EOT n: real-time status, answered even when offline
                if len(buf) < 3:
                    return
                self.reply(bytes([self.status_byte(buf[2])]))
                del buf[:3]
            elif c == 0x1B:
                if len(buf) < 2:
                    return
                if buf[1] == 0x40:
                    self._page_reset()
                    del buf[:2]
                elif buf[1] in (0x61, 0x64):  # ESC a n align, ESC d n feed
                    if len(buf) < 3:
                        return
                    if buf[1] == 0x61:
                        self.align = buf[2] % 48 if buf[2] >= 48 else buf[2]
                    else:
                        self._place(Image.new("1", (1, 30 * buf[2]), 1))
                    del buf[:3]
                else:
                    raise ValueError(f"unexpected ESC {buf[1]:#x}")
            elif c == 0x1D:
                if len(buf) < 2:
                    return
                if buf[1] == 0x76:  # GS v 0 m xL xH yL yH: raster bit image
                    if len(buf) < 8:
                        return
                    xb, rows = buf[4] | buf[5] << 8, buf[6] | buf[7] << 8
                    if len(buf) < 8 + xb * rows:
                        return
                    data = bytes(b ^ 0xFF for b in buf[8:8 + xb * rows])
                    self._place(Image.frombytes("1", (xb * 8, rows), data))
                    del buf[:8 + xb * rows]
                elif buf[1] == 0x28 and len(buf) >= 3 and buf[2] == 0x6B:  # GS ( k: 2D code
                    if len(buf) < 5:
                        return
                    n = buf[3] | buf[4] << 8
                    if len(buf) < 5 + n:
                        return
                    self._qr(bytes(buf[5:5 + n]))
                    del buf[:5 + n]
                elif buf[1] == 0x56:  # GS V m [n]: cut
                    if len(buf) < 3:
                        return
                    size = 4 if buf[2] in (65, 66) else 3
                    if len(buf) < size:
                        return
                    del buf[:size]
                    self._cut()
                else:
                    if len(buf) < 3:
                        return
                    raise ValueError(f"unexpected GS {buf[1]:#x}")
            elif c == 0x0A:
                self._place(Image.new("1", (1, 30), 1))
                del buf[:1]
            else:
                raise ValueError(f"unexpected byte {c:#x}")

    def _qr(self, body: bytes) -> None:
        cn, fn, rest = body[0], body[1], body[2:]
        if cn != 0x31:
            raise ValueError(f"2D code type {cn:#x} not supported")
        if not self.supports_qr:
            return  # an old printer ignores the command: no QR comes out
        if fn == 67:
            self.qr_size = rest[0]
        elif fn == 69:
            self.qr_ecc = rest[0]
        elif fn == 80:
            self.qr_data = rest[1:]  # after m = '0'
        elif fn == 81:
            text = self.qr_data.decode("utf-8")
            self.qr_payloads.append(text)
            code = qrcode.QRCode(error_correction=self.QR_ECC[self.qr_ecc], border=0)
            code.add_data(text)
            code.make(fit=True)
            m = np.array(code.get_matrix(), dtype=bool)
            big = np.repeat(np.repeat(~m, self.qr_size, 0), self.qr_size, 1)
            pad = Image.new("1", (big.shape[1] + 8 * self.qr_size, big.shape[0] + 8 * self.qr_size), 1)
            pad.paste(Image.fromarray(big), (4 * self.qr_size, 4 * self.qr_size))
            self._place(pad)

    def _cut(self) -> None:
        if self.paper == "out" or self.cover_open:
            self._page_reset()  # nothing comes out
            return
        height = sum(s.height for s in self.strips) or 1
        page = Image.new("1", (self.width, height), 1)
        y = 0
        for s in self.strips:
            page.paste(s, (0, y))
            y += s.height
        self.pages.append(Page(page, qr_payloads=self.qr_payloads))
        self._page_reset()


# --- ZPL ----------------------------------------------------------------------------------

class FakeZebra(PtyPrinter):
    """A ZPL printer: parses formats, draws ^GF graphics and ^BQ QR codes, answers ~HS."""

    ZPL_ECC = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
               "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}

    def __init__(self):
        self.paper_out = False
        self.head_up = False
        self.paused = False
        super().__init__()

    def host_status(self) -> bytes:
        one = f"030,{int(self.paper_out)},{int(self.paused or self.paper_out)},0240,000,0,0,0,000,0,0,0"
        two = f"001,0,{int(self.head_up)},0,1,2,6,0,00000000,1,000"
        return b"".join(b"\x02" + s.encode() + b"\x03\r\n" for s in (one, two, "1234,0"))

    def feed(self) -> None:
        text = self._buf.decode("ascii", errors="replace")
        while True:
            hs = text.find("~HS")
            start = text.find("^XA")
            if hs != -1 and (start == -1 or hs < start):
                self.reply(self.host_status())
                text = text[:hs] + text[hs + 3:]
                continue
            end = text.find("^XZ", start) if start != -1 else -1
            if start == -1 or end == -1:
                break
            self._format(text[start + 3:end])
            text = text[end + 3:]
        self._buf = bytearray(text.encode("ascii"))

    def _format(self, body: str) -> None:
        commands = [c for c in body.split("^") if c]
        width, height, x, y = 0, 0, 0, 0
        canvas: Image.Image | None = None
        qr_mag, payloads = None, []
        for cmd in commands:
            op, arg = cmd[:2], cmd[2:]
            if op == "PW":
                width = int(arg)
            elif op == "LL":
                height = int(arg)
                canvas = Image.new("1", (width, height), 1)
            elif op == "FO":
                x, y = (int(v) for v in arg.split(",")[:2])
            elif op == "GF":
                kind, total, _, row_bytes, data = arg.split(",", 4)
                if kind != "A":
                    raise ValueError(f"^GF{kind} not supported")
                raw = bytes.fromhex(data[: 2 * int(total)])
                rows = int(total) // int(row_bytes)
                mask = Image.frombytes("1", (int(row_bytes) * 8, rows), raw)  # set bit = black dot
                canvas.paste(0, (x, y), mask)
            elif op == "BQ":
                orient, model, mag = arg.split(",")[:3]
                if model != "2":
                    raise ValueError("only QR model 2")
                qr_mag = int(mag)
            elif op == "FD" and qr_mag is not None:
                ecc, rest = arg[0], arg[1:]
                mode, _, text = rest.partition(",")
                payloads.append(text)
                code = qrcode.QRCode(error_correction=self.ZPL_ECC[ecc], border=0)
                code.add_data(text)
                code.make(fit=True)
                m = np.array(code.get_matrix(), dtype=bool)
                big = np.repeat(np.repeat(m, qr_mag, 0), qr_mag, 1)
                canvas.paste(0, (x, y), Image.fromarray(big).convert("1"))
                qr_mag = None
            elif op in ("LH", "CI", "PQ", "FS"):
                pass
            else:
                raise ValueError(f"unexpected ZPL command ^{op}")
        if self.paper_out or self.head_up or self.paused or canvas is None:
            return  # the format waits in the buffer or is lost; nothing comes out now
        self.pages.append(Page(canvas, qr_payloads=payloads))
