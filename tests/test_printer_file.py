"""The simulated printer the demo uses: one PNG per label, named for the serial."""
from __future__ import annotations

import zxingcpp
from PIL import Image

from station.config import PrinterConfig
from station.printer import LabelData, PrinterDriver, make_driver, render

URL = "HTTPS://TEM.VN/01/08934567890120/21/A0000C1S27H4DGG6"
DATA = LabelData(URL, "A0000C1S27H4DGG6", "Cá thát lát Kỳ Như")


def test_file_printer_writes_a_png_named_for_the_serial_that_scans(tmp_path):
    printer = make_driver(PrinterConfig(driver="file"), tmp_path)
    assert isinstance(printer, PrinterDriver)
    assert printer.status().ready
    printer.print_label(render("62x29", DATA), name=DATA.serial)
    printer.print_label(render("62x29", DATA), name=DATA.serial)  # a reprint keeps the first file
    files = sorted((tmp_path / "labels").glob("*.png"))
    assert len(files) == 2 and all(DATA.serial in f.name for f in files)
    found = zxingcpp.read_barcodes(Image.open(files[0]), formats=zxingcpp.BarcodeFormat.QRCode)
    assert [r.text for r in found] == [URL]


def test_file_printer_honours_output_dir(tmp_path):
    printer = make_driver(PrinterConfig(driver="file", output_dir=tmp_path / "out"), tmp_path / "data")
    printer.print_label(render("50x30", DATA, 203))
    assert len(list((tmp_path / "out").glob("A0000C1S27H4DGG6-*.png"))) == 1
