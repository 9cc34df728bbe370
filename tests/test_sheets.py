"""Office sheets: `tem-station sheet` lays N stamps of the batch on A4 with crop marks; the PDF,
rasterised by poppler's pdftoppm, scans back to exactly those stamps, each once."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from station.codebook import Codebook
from station.printer import labels
from station.sheets import compose, plan
from tests.print_helpers import GTIN, decode, events, serial_of, serials

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (pdftoppm)")


def _config(tmp: Path, template: str = "62x29") -> Path:
    path = tmp / "st-1.toml"
    path.write_text(f"""station_id = "st-1"
kind = "print"
data_dir = "{tmp / 'data'}"
[product]
gtin = "{GTIN}"
name = "Cá thát lát rút xương"
producer = "HTX Kỳ Như"
lot = "L7"
[printer]
driver = "file"
template = "{template}"
""", encoding="utf-8")
    return path


def _codes(tmp: Path, n: int) -> list[str]:
    (tmp / "data").mkdir(exist_ok=True)
    wanted = serials(n)
    book = Codebook(tmp / "data" / "codes.db")
    book.add(wanted, GTIN)
    book.close()
    return wanted


def _sheet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "station.cli", "sheet", *args], cwd=ROOT, check=False,
                          capture_output=True, text=True, timeout=120)


def _rasterise(pdf: Path, out: Path) -> list[Image.Image]:
    subprocess.run(["pdftoppm", "-r", "300", "-gray", "-png", str(pdf), str(out / "page")], check=True, timeout=120)
    return [Image.open(p) for p in sorted(out.glob("page-*.png"))]


@pytest.mark.parametrize("template", ["62x29", "29x90"])
def test_a_sheet_pdf_scans_back_to_each_stamp_once_and_records_them_printed(tmp_path: Path, template: str) -> None:
    wanted = _codes(tmp_path, 40)
    pdf = tmp_path / "stamps.pdf"
    done = _sheet(str(_config(tmp_path, template)), "40", "-o", str(pdf))
    assert done.returncode == 0, done.stderr
    pages = _rasterise(pdf, tmp_path)
    layout = plan(labels.size(template, 300))
    assert len(pages) == -(-40 // layout.per_page) >= 2
    assert all(p.size == (2480, 3508) for p in pages)  # A4 at 300 dpi
    found = [serial_of(u) for p in pages for u in decode(p)]
    assert sorted(found) == sorted(wanted)  # every stamp, each once
    assert sorted(e["serial"] for e in events(tmp_path / "data", "printed")) == sorted(wanted)
    # All 40 codes are used: another sheet is refused rather than repeat a stamp.
    assert _sheet(str(_config(tmp_path, template)), "1", "-o", str(tmp_path / "x.pdf")).returncode == 2


def test_crop_marks_sit_outside_each_label_at_its_corners() -> None:
    label = Image.new("1", labels.size("62x29", 300), 1)
    pages, layout = compose([label] * 3)
    page = ~np.array(pages[0])  # True = ink
    left, top, right, bottom = layout.box(0)
    assert not page[top:bottom, left:right].any()  # nothing printed on the label itself
    off = round(300 / 25.4)
    assert page[top - off - 2, left] and page[top, left - off - 2]  # marks along the top and left edges
    assert page[bottom - 1 + off + 2, right - 1] and page[bottom - 1, right - 1 + off + 2]


def test_asking_for_more_stamps_than_codes_left_prints_nothing(tmp_path: Path) -> None:
    _codes(tmp_path, 5)
    done = _sheet(str(_config(tmp_path)), "6", "-o", str(tmp_path / "s.pdf"))
    assert done.returncode == 2 and "only 5 stamp codes left" in done.stderr
    assert not (tmp_path / "s.pdf").exists()
    book = Codebook(tmp_path / "data" / "codes.db")
    assert book.remaining() == 5 and book.count("queued") == 0
