"""ESC/POS and ZPL drivers against fake printers on pseudo-terminals (pyserial on the station side)."""
from __future__ import annotations

import pytest
import zxingcpp

from station.config import PrinterConfig
from station.printer import LabelData, PrinterError, make_driver, render
from station.printer.escpos_driver import EscPosPrinter
from station.printer.zpl import ZplPrinter
from tests.fakes.printers import FakeEscPos, FakeZebra

URL = "HTTPS://TEM.VN/01/08934567890120/21/A0000C1S27H4DGG6"
DATA = LabelData(URL, "A0000C1S27H4DGG6", "Trà mãng cầu Diễm Phượng", "HTX Diễm Phượng", "L9", "2026-05-01")


def decode(image):
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


@pytest.fixture
def escpos():
    printer = FakeEscPos(width=576)
    yield printer
    printer.close()


@pytest.fixture
def zebra():
    printer = FakeZebra()
    yield printer
    printer.close()


def test_escpos_native_qr_carries_the_exact_url_and_scans(escpos):
    printer = EscPosPrinter(f"serial://{escpos.path}", timeout=0.5)
    printer.print_label(render("50x30", DATA, 203))
    [page] = escpos.wait_pages(1)
    assert page.qr_payloads == [URL]
    assert decode(page.image) == [URL]
    assert escpos.protocol_errors == []


def test_escpos_without_native_qr_sends_the_label_as_an_image(escpos):
    printer = EscPosPrinter(f"serial://{escpos.path}", native_qr=False, timeout=0.5)
    printer.print_label(render("50x30", DATA, 203))
    [page] = escpos.wait_pages(1)
    assert page.qr_payloads == []
    assert decode(page.image) == [URL]


@pytest.mark.parametrize("trouble,state,words", [
    ("paper", "no_paper", "Hết giấy"), ("cover", "cover_open", "đóng nắp"), ("cutter", "cutter_jam", "Kẹt dao")])
def test_escpos_trouble_refuses_the_job_in_vietnamese(escpos, trouble, state, words):
    printer = EscPosPrinter(f"serial://{escpos.path}", timeout=0.5)
    if trouble == "paper":
        escpos.paper = "out"
    elif trouble == "cover":
        escpos.cover_open = True
    else:
        escpos.cutter_jam = True
    with pytest.raises(PrinterError) as err:
        printer.print_label(render("50x30", DATA, 203))
    assert err.value.sent is False and err.value.status.state == state
    assert words in err.value.status.message
    assert escpos.pages == []
    assert b"\x1dv0" not in bytes(escpos.received) and b"\x1d(k" not in bytes(escpos.received)


def test_escpos_paper_low_still_prints_and_says_so(escpos):
    printer = EscPosPrinter(f"serial://{escpos.path}", timeout=0.5)
    escpos.paper = "low"
    status = printer.status()
    assert status.ready and status.paper == "low" and "Sắp hết giấy" in status.message
    printer.print_label(render("50x30", DATA, 203))
    assert len(escpos.wait_pages(1)) == 1


def test_escpos_silent_printer_is_offline(escpos):
    printer = EscPosPrinter(f"serial://{escpos.path}", timeout=0.3)
    escpos.silent = True
    status = printer.status()
    assert status.state == "offline" and not status.ready


def test_zpl_native_qr_carries_the_exact_url_and_scans(zebra):
    printer = ZplPrinter(f"serial://{zebra.path}", timeout=0.5)
    label = render("50x30", DATA, 203)
    printer.print_label(label)
    [page] = zebra.wait_pages(1)
    assert page.qr_payloads == [URL]
    assert page.image.size == label.size
    assert decode(page.image) == [URL]
    assert zebra.protocol_errors == []


def test_zpl_job_uses_bq_model_2_with_ecc_m():
    from station.printer.labels import layout_of
    label = render("50x30", DATA, 203)
    job = ZplPrinter("serial:///dev/null").job(label)
    module = layout_of(label).qr.module
    assert f"^BQN,2,{module}^FDMA,{URL}^FS".encode() in job
    assert job.startswith(b"^XA") and job.endswith(b"^XZ")


@pytest.mark.parametrize("dpi", [203, 300])
def test_zpl_graphic_only_label_scans(zebra, dpi):
    printer = ZplPrinter(f"serial://{zebra.path}", native_qr=False, timeout=0.5)
    printer.print_label(render("50x30", DATA, dpi))
    [page] = zebra.wait_pages(1)
    assert page.qr_payloads == [] and decode(page.image) == [URL]


@pytest.mark.parametrize("trouble,state,words", [("paper", "no_paper", "Hết giấy"), ("head", "cover_open", "đóng nắp")])
def test_zpl_trouble_refuses_the_job_in_vietnamese(zebra, trouble, state, words):
    printer = ZplPrinter(f"serial://{zebra.path}", timeout=0.5)
    if trouble == "paper":
        zebra.paper_out = True
    else:
        zebra.head_up = True
    with pytest.raises(PrinterError) as err:
        printer.print_label(render("50x30", DATA, 203))
    assert err.value.sent is False and err.value.status.state == state
    assert words in err.value.status.message
    assert b"^XA" not in bytes(zebra.received)


def test_make_driver_builds_escpos_and_zpl(escpos, zebra):
    e = make_driver(PrinterConfig(driver="escpos", target=f"serial://{escpos.path}", template="50x30", dpi=203), None)
    z = make_driver(PrinterConfig(driver="zpl", target=f"serial://{zebra.path}", template="50x30", dpi=203), None)
    assert e.status().ready and z.status().ready
    e.close()
    z.close()
