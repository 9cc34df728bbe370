"""Print-ready A4 label sheets for a stamp block (65-up, 38.1 × 21.2 mm, the common office
label sheet), rendered at 300 dpi with whole-pixel QR modules and saved as PDF by Pillow.
The QR holds the uppercase Digital Link URL, as the stations print it (DESIGN.md)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

from tem import codes
from tem.stamp import StampRef

DPI = 300
MM = DPI / 25.4
PAGE = (round(210 * MM), round(297 * MM))
COLS, ROWS = 5, 13
LABEL = (38.1 * MM, 21.2 * MM)
PITCH = (40.6 * MM, 21.2 * MM)
MARGIN = (4.7 * MM, 10.7 * MM)
PER_PAGE = COLS * ROWS
MAX_PAGES = 40
MODULE = 5  # dots: ≈ 0.42 mm, what a phone reads reliably
FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for path in FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _qr(text: str) -> Image.Image:
    q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=MODULE, border=4)
    q.add_data(text)
    q.make(fit=True)
    return q.make_image(fill_color="black", back_color="white").get_image().convert("1")


def page(serials: Sequence[str], gtin: str | None, host: str, caption: str = "") -> Image.Image:
    img = Image.new("1", PAGE, 1)
    draw = ImageDraw.Draw(img)
    big, small = _font(30), _font(19)
    for i, serial in enumerate(serials[:PER_PAGE]):
        col, row = i % COLS, i // COLS
        x, y = round(MARGIN[0] + col * PITCH[0]), round(MARGIN[1] + row * PITCH[1])
        code = _qr(StampRef(serial=serial, gtin=gtin).qr_text(host))
        top = y + max(0, round((LABEL[1] - code.height) / 2))
        img.paste(code, (x, top))
        tx = x + code.width + 4
        grouped = codes.grouped(serial)
        draw.text((tx, top + 30), grouped[:9], font=big, fill=0)
        draw.text((tx, top + 70), grouped[10:], font=big, fill=0)
        if caption:
            draw.text((tx, top + 120), caption[:22], font=small, fill=0)
    return img


def pdf(serials: Sequence[str], gtin: str | None, host: str, caption: str = "") -> bytes:
    pages = [page(serials[i:i + PER_PAGE], gtin, host, caption)
             for i in range(0, min(len(serials), PER_PAGE * MAX_PAGES), PER_PAGE)]
    out = io.BytesIO()
    pages[0].save(out, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
    return out.getvalue()


def preview_png(serials: Sequence[str], gtin: str | None, host: str, caption: str = "") -> bytes:
    img = page(serials, gtin, host, caption).convert("L").resize((PAGE[0] // 3, PAGE[1] // 3), Image.LANCZOS)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()
