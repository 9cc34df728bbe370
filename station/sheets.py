"""Stamps for the office printer: N labels of a batch laid out on A4 pages with crop marks,
saved as one PDF (`tem-station sheet`). The codes come from the station's codebook and each
label is a print job like any other, so a sheet never repeats or loses a stamp."""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from station.codebook import Codebook
from station.config import StationConfig
from station.outbox import Outbox
from station.printer import LabelData, render
from tem.stamp import StampRef

MM_PER_INCH = 25.4
A4_MM = (210.0, 297.0)


@dataclass(frozen=True)
class SheetLayout:
    dpi: int
    page: tuple[int, int]  # page size in dots
    label: tuple[int, int]  # label size in dots
    columns: int
    rows: int
    origin: tuple[int, int]  # top-left of the first label
    pitch: tuple[int, int]  # distance between label origins

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def box(self, i: int) -> tuple[int, int, int, int]:
        """Where the i-th label of a page sits: left, top, right, bottom (exclusive)."""
        col, row = i % self.columns, i // self.columns
        x, y = self.origin[0] + col * self.pitch[0], self.origin[1] + row * self.pitch[1]
        return x, y, x + self.label[0], y + self.label[1]


def plan(label: tuple[int, int], dpi: int = 300, page_mm: tuple[float, float] = A4_MM,
         margin_mm: float = 8.0, gap_mm: float = 8.0) -> SheetLayout:
    """As many labels as fit, centred, with a gap wide enough for both neighbours' crop marks."""
    dots = lambda mm: round(mm * dpi / MM_PER_INCH)
    page = (dots(page_mm[0]), dots(page_mm[1]))
    margin, gap = dots(margin_mm), dots(gap_mm)
    cols = max(1, (page[0] - 2 * margin + gap) // (label[0] + gap))
    rows = max(1, (page[1] - 2 * margin + gap) // (label[1] + gap))
    used = (cols * label[0] + (cols - 1) * gap, rows * label[1] + (rows - 1) * gap)
    if used[0] > page[0] or used[1] > page[1]:
        raise ValueError(f"a {label[0]}x{label[1]} dot label does not fit on the page")
    origin = ((page[0] - used[0]) // 2, (page[1] - used[1]) // 2)
    return SheetLayout(dpi, page, label, cols, rows, origin, (label[0] + gap, label[1] + gap))


def crop_marks(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], dpi: int) -> None:
    """Short hairlines at each corner, outside the label, along its edges (where to cut)."""
    off, length, width = round(1 * dpi / MM_PER_INCH), round(2.5 * dpi / MM_PER_INCH), max(1, dpi // 150)
    left, top, right, bottom = box
    for x in (left, right - 1):
        for y, direction in ((top, -1), (bottom - 1, 1)):
            y0 = y + direction * off
            draw.line([(x, y0), (x, y0 + direction * length)], fill=0, width=width)
    for y in (top, bottom - 1):
        for x, direction in ((left, -1), (right - 1, 1)):
            x0 = x + direction * off
            draw.line([(x0, y), (x0 + direction * length, y)], fill=0, width=width)


def compose(labels: list[Image.Image], dpi: int = 300) -> tuple[list[Image.Image], SheetLayout]:
    """A4 pages ("1" mode) holding the labels in order, with crop marks."""
    if not labels:
        raise ValueError("no labels to lay out")
    layout = plan(labels[0].size, dpi)
    pages = []
    for start in range(0, len(labels), layout.per_page):
        page = Image.new("1", layout.page, 1)
        draw = ImageDraw.Draw(page)
        for i, label in enumerate(labels[start:start + layout.per_page]):
            box = layout.box(i)
            page.paste(label, box[:2])
            crop_marks(draw, box, dpi)
        pages.append(page)
    return pages, layout


def write_pdf(pages: list[Image.Image], path: Path, dpi: int = 300) -> None:
    """One multi-page PDF at the labels' own resolution (so modules stay whole dots); atomic."""
    tmp = path.with_name(path.name + ".part")
    pages[0].save(tmp, "PDF", save_all=True, append_images=pages[1:], resolution=float(dpi))
    os.replace(tmp, path)


def print_sheet(cfg: StationConfig, count: int, out: Path, template: str | None = None, dpi: int = 300) -> list[str]:
    """Take `count` codes for the station's product and lot, lay them out, write the PDF, and record
    each as printed (sent to the hub when the station next runs). Returns the serials."""
    product = cfg.product
    if product is None:
        raise ValueError("the station has no [product]: nothing to print a sheet for")
    template = template or (cfg.printer.template if cfg.printer else "62x29")
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    book = Codebook(cfg.data_dir / "codes.db")
    outbox = Outbox(cfg.data_dir / "outbox.db", cfg.station_id)
    try:
        label = {"host": cfg.hub_host, "product": product.name, "producer": product.producer, "lot": product.lot,
                 "packed_on": product.packed_on or dt.date.today().isoformat()}
        jobs = []
        for _ in range(count):
            job = book.enqueue(product.gtin, label, template)
            if job is None:
                break
            jobs.append(job)
        if len(jobs) < count:
            for job in jobs:  # nothing was printed: the codes stay unused
                book.release(job.id)
            raise ValueError(f"only {len(jobs)} stamp codes left for {product.gtin}; asked for {count}")
        images = [render(template, LabelData(
            qr_text=StampRef(j.serial, j.gtin).qr_text(cfg.hub_host), serial=j.serial, product=product.name,
            producer=product.producer, lot=product.lot, packed_on=label["packed_on"]), dpi) for j in jobs]
        pages, _ = compose(images, dpi)
        for job in jobs:
            book.set_state(job.id, "sending", f"sheet {out.name}")
        write_pdf(pages, out, dpi)
        for job in jobs:
            book.set_state(job.id, "printed", f"sheet {out.name}")
            try:
                outbox.append("printed", id=job.event_ids()["printed"], serial=job.serial, gtin=job.gtin,
                              lot=product.lot, template=f"A4 {template}")
            except sqlite3.IntegrityError:
                pass
            book.set_state(job.id, "done", f"sheet {out.name}")
        return [j.serial for j in jobs]
    finally:
        book.close()
        outbox.close()
