"""Brother QL driver against a fake QL on a pseudo-terminal that parses the raster like the printer."""
from __future__ import annotations

import numpy as np
import pytest
import zxingcpp

from station.config import PrinterConfig
from station.printer import LabelData, PrinterError, PrintUnconfirmed, make_driver, render
from station.printer.brother import BrotherQLPrinter
from tests.fakes.printers import FakeBrotherQL

URL = "HTTPS://TEM.VN/01/08934567890120/21/A0000C1S27H4DGG6"
DATA = LabelData(URL, "A0000C1S27H4DGG6", "Cá thát lát Kỳ Như", "HTX Kỳ Như", "L7", "2026-05-01")


def decode(image):
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


@pytest.fixture
def fake(request):
    roll = getattr(request, "param", (62, 29))
    printer = FakeBrotherQL("QL-800", roll=roll)
    yield printer
    printer.close()


def driver(fake, template="62x29", **kw):
    return BrotherQLPrinter(fake.path, "QL-800", template, status_timeout=0.5, print_timeout=2, **kw)


def contains_exactly(page, label) -> bool:
    """The printed raster holds the rendered label dot for dot (no resize on the way)."""
    printed, want = ~np.array(page), ~np.array(label)
    h, w = want.shape
    for x in range(printed.shape[1] - w + 1):
        if np.array_equal(printed[:h, x:x + w], want) and not printed[:, :x].any() and not printed[:, x + w:].any():
            return True
    return False


@pytest.mark.parametrize("fake,template", [((62, 29), "62x29"), ((62, 0), "62"), ((29, 90), "29x90")],
                         indirect=["fake"])
def test_label_printed_on_a_ql800_scans_back_to_the_stamp_url(fake, template):
    printer = driver(fake, template)
    label = render(template, DATA, 300)
    printer.print_label(label)
    [page] = fake.wait_pages(1)
    assert decode(page.image) == [URL]
    assert contains_exactly(page.image, label)
    assert fake.protocol_errors == []
    printer.close()


def test_status_reports_the_loaded_roll_ready(fake):
    status = driver(fake).status()
    assert status.ready and status.state == "ready" and status.paper == "ok"
    assert "62x29" in status.detail


def test_out_of_paper_refuses_the_job_in_vietnamese_and_prints_nothing(fake):
    printer = driver(fake)
    fake.run_out_of_paper()
    sent_before = len(fake.received)
    with pytest.raises(PrinterError) as err:
        printer.print_label(render("62x29", DATA))
    assert not isinstance(err.value, PrintUnconfirmed) and err.value.sent is False
    assert err.value.status.state == "no_paper" and err.value.status.paper == "out"
    assert "Hết giấy" in err.value.status.message
    assert fake.pages == []
    # Only the status request went out: no raster rows ("g") reached the printer.
    assert b"g\x00" not in bytes(fake.received[sent_before:])


def test_cover_open_refuses_the_job_and_printing_resumes_when_closed(fake):
    printer = driver(fake)
    fake.cover_open = True
    with pytest.raises(PrinterError) as err:
        printer.print_label(render("62x29", DATA))
    assert err.value.status.state == "cover_open"
    assert "đóng nắp" in err.value.status.message
    fake.cover_open = False
    printer.print_label(render("62x29", DATA))
    assert len(fake.wait_pages(1)) == 1


@pytest.mark.parametrize("fake", [(29, 90)], indirect=True)
def test_wrong_roll_is_refused_before_sending(fake):
    printer = driver(fake, "62x29")
    with pytest.raises(PrinterError) as err:
        printer.print_label(render("62x29", DATA))
    assert err.value.status.state == "wrong_media"
    assert "DK-11209" in err.value.status.message
    assert fake.pages == []


def test_black_red_roll_gets_a_two_colour_raster(fake):
    fake.load_roll((62, 0), red_roll=True)
    plain = driver(fake, "62")
    # A plain raster on a black/red roll is rejected by the printer itself (lamp blinks).
    with pytest.raises(PrintUnconfirmed):
        plain.print_label(render("62", DATA))
    plain.close()
    red = driver(fake, "62", black_red_roll=True)
    red.print_label(render("62", DATA))
    [page] = fake.wait_pages(1)
    assert decode(page.image) == [URL]
    assert page.red is not None and not (~np.array(page.red)).any()  # nothing printed in red


def test_silent_printer_after_the_job_is_unconfirmed_not_printed(fake):
    printer = driver(fake)
    fake.answer_print = False
    with pytest.raises(PrintUnconfirmed) as err:
        printer.print_label(render("62x29", DATA))
    assert err.value.sent is True and err.value.status.state == "unknown"


def test_unplugged_printer_is_offline(fake):
    printer = driver(fake)
    fake.silent = True
    status = printer.status()
    assert not status.ready and status.state == "offline"
    assert "kiểm tra dây cáp" in status.message


def test_network_printer_says_status_unknown_and_never_printed():
    import socket
    import threading
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    got = bytearray()

    def accept():
        conn, _ = server.accept()
        while chunk := conn.recv(65536):
            got.extend(chunk)
        conn.close()
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    printer = BrotherQLPrinter(f"tcp://127.0.0.1:{server.getsockname()[1]}", "QL-820NWB", "62x29")
    status = printer.status()
    assert status.state == "unknown" and not status.ready
    with pytest.raises(PrintUnconfirmed):
        printer.print_label(render("62x29", DATA))
    t.join(2)
    server.close()
    assert len(got) > 1000  # the job did go out


def test_each_job_gets_a_fresh_raster(fake):
    printer = driver(fake)
    for _ in range(3):
        printer.print_label(render("62x29", DATA))
    assert len(fake.wait_pages(3)) == 3
    assert all(decode(p.image) == [URL] for p in fake.pages)


def test_make_driver_builds_a_brother_from_config(fake):
    cfg = PrinterConfig(driver="brother_ql", model="QL-800", target=fake.path, template="62x29")
    printer = make_driver(cfg, data_dir=None)
    assert printer.status().ready
    printer.close()
    with pytest.raises(ValueError, match="not a Brother"):
        make_driver(PrinterConfig(driver="brother_ql", target=fake.path, template="50x30"), None)
