"""Label rendering: exact sizes, whole-dot QR modules, Vietnamese text, and stamps that scan back."""
from __future__ import annotations

import random
import unicodedata

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from station.printer import LabelData, render
from station.printer import labels, qr
from tem import codes, gs1
from tem.stamp import StampRef

PRODUCTS = [
    ("Trà mãng cầu Diễm Phượng", "HTX Diễm Phượng"),
    ("Cá thát lát Kỳ Như", "Cơ sở Kỳ Như, Hậu Giang"),
    ("Gạo ST25 Đồng Tháp — túi 5 kg đặc sản", "HTX Nông nghiệp Tân Hồng"),
    ("Nước mắm Phú Quốc thượng hạng 40 độ đạm", "Công ty TNHH Hưng Thịnh"),
    ("Mật ong hoa cà phê", ""),
]


def decode(image: Image.Image) -> list[str]:
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in found]


def stamp(rng: random.Random, host: str = "tem.vn") -> LabelData:
    keyring = codes.Keyring({"A": b"k" * 16})
    body = f"893{rng.randrange(10**9):09d}"
    # Mostly full Digital Links; one in ten the short /t/ form used on tiny labels.
    gtin = gs1.normalize_gtin(body + str(gs1.check_digit(body))) if rng.random() > 0.1 else None
    serial = keyring.mint(rng.randrange(codes.MAX_NUMBER + 1))
    ref = StampRef(serial=serial, gtin=gtin)
    product, producer = rng.choice(PRODUCTS)
    return LabelData(ref.qr_text(host), serial, product, producer, lot=f"L{rng.randrange(10**4):04d}",
                     packed_on=f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}")


EXAMPLE = LabelData("HTTPS://TEM.VN/01/08934567890120/21/A0000C1S27H4DGG6", "A0000C1S27H4DGG6",
                    "Trà mãng cầu Diễm Phượng", "HTX Diễm Phượng", "L2405-01", "2026-05-01")


@pytest.mark.parametrize("template,dpi,size", [
    ("62", 300, (696, 400)), ("62x29", 300, (696, 271)), ("29x90", 300, (306, 991)),
    ("50x30", 203, (400, 240)), ("62x29", 203, (471, 183)), ("50x30", 300, (591, 354)),
])
def test_label_is_one_bit_at_the_exact_dot_size_of_the_roll(template, dpi, size):
    image = render(template, EXAMPLE, dpi)
    assert image.mode == "1"
    assert image.size == size


@pytest.mark.parametrize("template", sorted(labels.TEMPLATES))
@pytest.mark.parametrize("dpi", [203, 300])
def test_qr_modules_are_whole_dots_of_at_least_the_readable_minimum(template, dpi):
    image = render(template, EXAMPLE, dpi)
    layout = labels.layout_of(image)
    q = layout.qr
    assert q.module >= qr.min_module_dots(dpi)
    # Cut the symbol out and sample each module's centre: the pattern must equal the QR matrix,
    # and every dot of a module must have that module's colour (no resampling anywhere).
    symbol = np.array(image.crop((q.x, q.y, q.x + q.side, q.y + q.side)))
    expected = ~qr.matrix(EXAMPLE.qr_text).rows
    blocks = symbol.reshape(q.modules, q.module, q.modules, q.module)
    assert (blocks == expected[:, None, :, None]).all()
    assert decode(image) == [EXAMPLE.qr_text]


def test_quiet_zone_of_four_modules_is_blank():
    image = render("62x29", EXAMPLE, 300)
    q = labels.layout_of(image).qr
    symbol = np.array(image.crop((q.x, q.y, q.x + q.side, q.y + q.side)))
    ring = 4 * q.module
    assert symbol[:ring].all() and symbol[-ring:].all() and symbol[:, :ring].all() and symbol[:, -ring:].all()


def _ink(text: str, kind: str = "bold") -> np.ndarray:
    font = labels._font(kind, 60)
    im = Image.new("1", (400, 100), 1)
    from PIL import ImageDraw
    ImageDraw.Draw(im).text((10, 10), text, font=font, fill=0)
    return ~np.array(im)


@pytest.mark.parametrize("marked,plain", [("Đ", "D"), ("ữ", "ư"), ("ặ", "ă"), ("Kỳ", "Ky"), ("thát", "that")])
def test_shipped_font_draws_vietnamese_marks(marked, plain):
    font = labels._font("bold", 60)
    for ch in marked:
        # A missing glyph would come out as the same empty box for every letter.
        assert font.getmask(ch).getbbox() is not None
    assert (_ink(marked) != _ink(plain)).any()
    assert _ink(marked).sum() > _ink(plain).sum()


def test_decomposed_vietnamese_prints_like_precomposed():
    nfd = unicodedata.normalize("NFD", "Cá thát lát Kỳ Như")
    a = render("62x29", LabelData(EXAMPLE.qr_text, EXAMPLE.serial, nfd), 300)
    b = render("62x29", LabelData(EXAMPLE.qr_text, EXAMPLE.serial, "Cá thát lát Kỳ Như"), 300)
    assert np.array_equal(np.array(a), np.array(b))


def test_short_code_is_printed_grouped_never_cut():
    long = LabelData(EXAMPLE.qr_text, EXAMPLE.serial, "Nước mắm " * 20, "Công ty " * 10, "LOT-2026-05-01-A", "2026-05-01")
    for template in labels.TEMPLATES:
        for dpi in (203, 300):
            image = render(template, long, dpi)
            assert decode(image) == [EXAMPLE.qr_text]
    # The grouped code is laid out as one or two whole halves, never with an ellipsis.
    lines = labels._exact_lines(labels._Line(codes.grouped(EXAMPLE.serial), "mono", 9, 2, exact=True), 40, 21, 150)[1]
    assert "".join(lines) == "A000-0C1S-27H4-DGG6"


def test_text_that_cannot_fit_in_the_qr_square_is_refused():
    with pytest.raises(qr.QRTooLarge):
        render("62x29", LabelData("HTTPS://TEM.VN/" + "A" * 300, EXAMPLE.serial, "x"), 203)


def test_unknown_template_names_the_known_ones():
    with pytest.raises(ValueError, match="62x29"):
        render("100x50", EXAMPLE)


def test_thousand_random_stamps_scan_back_on_every_template_at_203_and_300_dpi():
    rng = random.Random(20260501)
    failures = []
    for i in range(1000):
        data = stamp(rng, host=rng.choice(["tem.vn", "truyxuat.tem.vn"]))
        for template in labels.TEMPLATES:
            for dpi in (203, 300):
                got = decode(render(template, data, dpi))
                if got != [data.qr_text]:
                    failures.append((i, template, dpi, data.qr_text, got))
    assert failures == []
