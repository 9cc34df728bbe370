"""Label templates: lay out the stamp QR, Vietnamese product text and the typed short code
at the exact dot size of the roll, as a 1-bit image a thermal printer takes unchanged."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from station.printer import qr
from tem.codes import grouped

FONT_DIR = Path(__file__).with_name("fonts")
FONTS = {
    "regular": FONT_DIR / "DejaVuSans.ttf",
    "bold": FONT_DIR / "DejaVuSans-Bold.ttf",
    "mono": FONT_DIR / "DejaVuSansMono-Bold.ttf",
}
MM_PER_INCH = 25.4


@dataclass(frozen=True)
class LabelData:
    qr_text: str  # uppercase Digital Link URL
    serial: str  # 16-char serial; printed grouped
    product: str  # Vietnamese product name
    producer: str = ""
    lot: str = ""
    packed_on: str = ""  # YYYY-MM-DD


@dataclass(frozen=True)
class Template:
    name: str
    size_mm: tuple[float, float]  # printable width x length
    layout: str  # "side": QR left, text right; "stack": QR on top, text below
    # Dot sizes the printer insists on (Brother QL refuses or resamples anything else).
    exact: tuple[tuple[int, tuple[int, int]], ...] = ()
    qr_share: float = 0.5  # at most this share of the width goes to the QR in a side layout

    def size(self, dpi: int) -> tuple[int, int]:
        for at, dots in self.exact:
            if at == dpi:
                return dots
        w, h = self.size_mm
        return round(w * dpi / MM_PER_INCH), round(h * dpi / MM_PER_INCH)


TEMPLATES = {
    # Brother DK 62 mm endless: 696 printable dots at 300 dpi; we cut 34 mm pieces.
    "62": Template("62", (696 * MM_PER_INCH / 300, 400 * MM_PER_INCH / 300), "side",
                   exact=((300, (696, 400)),), qr_share=0.45),
    # Brother DK-11209 62x29 die-cut: 696x271 printable at 300 dpi.
    "62x29": Template("62x29", (696 * MM_PER_INCH / 300, 271 * MM_PER_INCH / 300), "side",
                      exact=((300, (696, 271)),)),
    # Brother DK-11201 29x90 die-cut: 306x991 printable at 300 dpi, fed narrow edge first.
    "29x90": Template("29x90", (306 * MM_PER_INCH / 300, 991 * MM_PER_INCH / 300), "stack",
                      exact=((300, (306, 991)),)),
    # 50x30 mm direct-thermal labels on ESC/POS and ZPL printers (400x240 at 203 dpi).
    "50x30": Template("50x30", (50.0, 30.0), "side", exact=((203, (400, 240)),), qr_share=0.5),
}


def size(template: str, dpi: int = 300) -> tuple[int, int]:
    return _template(template).size(dpi)


def _template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown label template {name!r}; known: {', '.join(TEMPLATES)}") from None


@dataclass(frozen=True)
class QRPlacement:
    """Where render() put the QR, so a driver may replace it with the printer's own QR command."""
    text: str
    x: int  # top-left of the symbol including its quiet zone
    y: int
    module: int  # dots per module
    modules: int  # modules per side, quiet zone included

    @property
    def side(self) -> int:
        return self.module * self.modules


@dataclass(frozen=True)
class Layout:
    template: str
    dpi: int
    serial: str
    qr: QRPlacement
    text_box: tuple[int, int, int, int]  # left, top, right, bottom of the text


INFO_KEY = "tem.layout"  # render() leaves the Layout in image.info under this key


@lru_cache(maxsize=256)
def _font(kind: str, px: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(str(FONTS[kind]), px)
    font.tem_kind = kind  # lets the width cache key on (kind, size)
    return font


def _kind_of(font: ImageFont.FreeTypeFont) -> str:
    return font.tem_kind


def _nfc(text: str) -> str:
    # Vietnamese typed on phones often arrives decomposed (base letter + combining
    # marks); the precomposed glyphs render correctly without a shaping engine.
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _vn_date(iso: str) -> str:
    parts = iso.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[2]}/{parts[1]}/{parts[0]}"
    return iso


@dataclass(frozen=True)
class _Line:
    text: str
    kind: str
    pt: float  # size in points at scale 1
    max_lines: int
    gap: float = 0.25  # space after, as a share of the font size
    exact: bool = False  # never cut: shrink to the width instead (the typed short code)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int, max_lines: int) -> tuple[list[str], bool]:
    """Greedy word wrap; returns the lines and whether everything fitted."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        trial = f"{current} {word}" if current else word
        if _fits_width(_kind_of(font), font.size, trial, width):
            current = trial
            continue
        if current:
            lines.append(current)
        current = word
        if not _fits_width(_kind_of(font), font.size, word, width):
            return lines + [word], False
    if current:
        lines.append(current)
    return lines, len(lines) <= max_lines


def _ellipsize(line: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    while line and font.getlength(line + "…") > width:
        line = line[:-1]
    return line.rstrip() + "…"


def _exact_lines(item: _Line, px: int, min_px: int, width: int) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The short code at the largest size up to px that fits one line, else split in two halves."""
    for size in range(px, min_px - 1, -1):
        if _fits_width(item.kind, size, item.text, width):
            return _font(item.kind, size), [item.text]
    half = len(item.text) // 2
    cut = item.text.rfind("-", 0, half + 1) + 1 or half  # break after a dash near the middle
    font = _font(item.kind, min_px)
    return font, [item.text[:cut], item.text[cut:]]


@lru_cache(maxsize=4096)
def _length(kind: str, px: int, text: str) -> float:
    return _font(kind, px).getlength(text)


def _fits_width(kind: str, px: int, text: str, width: int) -> bool:
    return _length(kind, px, text) <= width


def _layout_at(items: tuple[_Line, ...], width: int, dpi: int, scale: float):
    """Lines and heights of the block at one scale; also whether nothing had to be cut."""
    min_px = max(10, round(5 * dpi / 72))  # 5 pt: about the smallest a person reads off a pack
    placed, total, fits = [], 0, True
    for item in items:
        px = max(min_px, round(item.pt * scale * dpi / 72))
        if item.exact:
            font, lines = _exact_lines(item, px, min_px, width)
        else:
            font = _font(item.kind, px)
            lines, ok = _wrap(item.text, font, width, item.max_lines)
            if not ok:
                fits = False
                lines = lines[: item.max_lines]
                lines[-1] = _ellipsize(lines[-1], font, width)
        size = font.size
        line_h = round(size * 1.15)
        placed.append((font, lines, line_h, round(size * item.gap)))
        total += line_h * len(lines) + round(size * item.gap)
    return placed, total, fits


@lru_cache(maxsize=512)
def _set_block(items: tuple[_Line, ...], width: int, height: int, dpi: int):
    """One scale for the whole block, the largest that fits the box (bisection): long names
    wrap first, then everything shrinks; a name is cut with an ellipsis only at the smallest size."""
    lo, hi = 0.3, 1.8
    best = _layout_at(items, width, dpi, lo)
    if not (best[2] and best[1] <= height):
        return best[0], best[1]
    for _ in range(7):
        mid = (lo + hi) / 2
        trial = _layout_at(items, width, dpi, mid)
        if trial[2] and trial[1] <= height:
            lo, best = mid, trial
        else:
            hi = mid
    return best[0], best[1]


def render(template: str, data: LabelData, dpi: int = 300) -> Image.Image:
    """The label as a "1"-mode image at the template's exact dot size for that dpi."""
    tpl = _template(template)
    width, height = tpl.size(dpi)
    margin = max(2, round(1.0 * dpi / MM_PER_INCH))  # 1 mm of white around the text
    code = qr.matrix(data.qr_text)

    if tpl.layout == "side":
        module = qr.module_dots(code, min(height, int(width * tpl.qr_share)), dpi)
        side = module * code.modules
        qx, qy = 0, (height - side) // 2
        # The quiet zone already separates the QR from the text; keep only a small gap.
        text_box = (side + margin // 2, margin, width - margin, height - margin)
    else:
        module = qr.module_dots(code, min(width, height // 2), dpi)
        side = module * code.modules
        qx, qy = (width - side) // 2, 0
        text_box = (margin, side, width - margin, height - margin)

    im = Image.new("1", (width, height), 1)
    im.paste(qr.image(code, module), (qx, qy))

    items = [_Line(_nfc(data.product), "bold", 10, 4 if tpl.layout == "stack" else 3)]
    if data.producer:
        items.append(_Line(_nfc(data.producer), "regular", 7, 2 if tpl.layout == "stack" else 1))
    if data.lot:
        items.append(_Line(f"Lô: {_nfc(data.lot)}", "regular", 7, 1, gap=0.1))
    if data.packed_on:
        items.append(_Line(f"Đóng gói: {_vn_date(data.packed_on)}", "regular", 7, 1, gap=0.1))
    # The short code is what a person types when the QR is damaged: never cut, never wrapped mid-group.
    items.append(_Line(grouped(data.serial), "mono", 9, 2, gap=0, exact=True))

    left, top, right, bottom = text_box
    # A run of labels differs only in the code, whose mono glyphs all have one width: lay the
    # block out once per product/lot with a stand-in code and reuse it (the costly part of a label).
    key = tuple(_Line("".join(c if c == "-" else "0" for c in i.text), i.kind, i.pt, i.max_lines, i.gap, True) if i.exact else i for i in items)
    placed, total = _set_block(key, right - left, bottom - top, dpi)
    draw = ImageDraw.Draw(im)
    # Centre the block vertically beside the QR; in a stack, start just below it.
    y = top + max(0, (bottom - top - total) // 2) if tpl.layout == "side" else top
    for item, (font, lines, line_h, gap) in zip(items, placed):
        if item.exact:
            cut = len(lines[0])
            lines = [item.text[:cut], item.text[cut:]] if len(lines) > 1 else [item.text]
        for line in lines:
            draw.text((left, y), line, font=font, fill=0)
            y += line_h
        y += gap

    im.info[INFO_KEY] = Layout(template, dpi, data.serial,
                               QRPlacement(data.qr_text, qx, qy, module, code.modules), text_box)
    return im


def layout_of(image: Image.Image) -> Layout | None:
    """The layout render() recorded, or None for an image that did not come from render()."""
    found = image.info.get(INFO_KEY)
    return found if isinstance(found, Layout) else None
