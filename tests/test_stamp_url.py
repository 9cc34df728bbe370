"""The URL in a stamp's QR (tem/stamp.py): what a station prints and what a
reader accepts before judging authenticity."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tem import gs1
from tem.codes import ALPHABET, Keyring, grouped
from tem.stamp import StampRef, StampURLError, parse_stamp_url

FAST = settings(max_examples=150, deadline=None)
SERIAL = "A1B2C3D4E5F6G7H8"
GTIN = "09520123456788"

serials = st.text(ALPHABET, min_size=16, max_size=16)
gtins = st.text("0123456789", min_size=13, max_size=13).map(lambda b: b + str(gs1.check_digit(b)))
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){1,2}", fullmatch=True)


def test_full_form_url_is_a_gs1_digital_link():
    ref = StampRef(serial=SERIAL, gtin=GTIN)
    assert ref.url("TEM.vn") == f"https://tem.vn/01/{GTIN}/21/{SERIAL}"
    assert ref.qr_text("tem.vn") == f"HTTPS://TEM.VN/01/{GTIN}/21/{SERIAL}"


def test_short_form_url_for_tiny_labels():
    ref = StampRef(serial=SERIAL)
    assert ref.url("tem.vn") == f"https://tem.vn/t/{SERIAL}"
    assert ref.qr_text("tem.vn") == f"HTTPS://TEM.VN/T/{SERIAL}"


def test_qr_text_is_alphanumeric_mode_only():
    """QR alphanumeric mode: 0-9, A-Z, space and $%*+-./: — what keeps the code small."""
    allowed = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    for ref in (StampRef(SERIAL, GTIN), StampRef(SERIAL)):
        assert set(ref.qr_text("tem.vn")) <= allowed


@FAST
@given(serials, st.none() | gtins, hosts)
def test_printed_url_and_qr_text_parse_back_to_the_stamp(serial, gtin, host):
    ref = StampRef(serial=serial, gtin=gtin)
    assert parse_stamp_url(ref.url(host)) == ref
    assert parse_stamp_url(ref.qr_text(host)) == ref
    assert parse_stamp_url(ref.qr_text(host), {host}) == ref
    assert parse_stamp_url(ref.url(host).lower()) == ref


@FAST
@given(serials, gtins)
def test_lower_case_and_grouped_serials_are_normalised(serial, gtin):
    assert parse_stamp_url(f"https://tem.vn/t/{grouped(serial).lower()}") == StampRef(serial)
    assert parse_stamp_url(f"https://tem.vn/01/{gtin}/21/{grouped(serial)}") == StampRef(serial, gtin)


def test_uppercase_printed_form_parses():
    ref = parse_stamp_url(f"HTTPS://TEM.VN/01/{GTIN}/21/{SERIAL}")
    assert ref == StampRef(SERIAL, GTIN)


def test_gtin13_in_the_path_is_padded():
    assert parse_stamp_url(f"https://tem.vn/01/9520123456788/21/{SERIAL}").gtin == GTIN


def test_lot_and_query_around_the_serial_are_allowed():
    ref = parse_stamp_url(f"https://tem.vn/01/{GTIN}/10/L2026-11/21/{SERIAL}?17=261231")
    assert ref == StampRef(SERIAL, GTIN)


def test_minted_serial_survives_print_and_scan():
    ring = Keyring({"A": bytes(32)})
    serial = ring.mint(77, GTIN)
    ref = parse_stamp_url(StampRef(serial, GTIN).qr_text("tem.vn"), {"tem.vn"})
    assert ring.verify(ref.serial, ref.gtin)


def test_hosts_filter_accepts_listed_hosts_in_any_case():
    url = f"https://Tem.VN/t/{SERIAL}"
    assert parse_stamp_url(url, {"tem.vn", "tem.example"}).serial == SERIAL
    assert parse_stamp_url(url, frozenset({"TEM.VN"})).serial == SERIAL


def test_empty_hosts_means_any_host():
    assert parse_stamp_url(f"https://elsewhere.example/t/{SERIAL}", set()).serial == SERIAL
    assert parse_stamp_url(f"https://elsewhere.example/t/{SERIAL}", None).serial == SERIAL


@pytest.mark.parametrize("url", [
    f"https://evil.example/t/{SERIAL}",
    f"https://tem.vn.evil.example/t/{SERIAL}",
    f"https://tem.vn@evil.example/t/{SERIAL}",
    f"https://evil.example/01/{GTIN}/21/{SERIAL}",
])
def test_hosts_filter_refuses_other_hosts(url):
    with pytest.raises(StampURLError, match="not a Tem hub"):
        parse_stamp_url(url, {"tem.vn"})


@pytest.mark.parametrize("text, words", [
    ("A1B2C3D4E5F6G7H8", "not a web address"),
    ("tem.vn/t/A1B2C3D4E5F6G7H8", "not a web address"),
    ("ftp://tem.vn/t/A1B2C3D4E5F6G7H8", "not a web address"),
    ("https://tem.vn/t/A1B2C3D4E5F6G7H", "16 characters"),
    ("https://tem.vn/t/A1B2C3D4E5F6G7HU", "'U'"),
    (f"https://tem.vn/01/{GTIN}", "no serial"),
    (f"https://tem.vn/01/{GTIN}/10/LOT1", "no serial"),
    (f"https://tem.vn/01/09520123456789/21/{SERIAL}", "check digit"),
    (f"https://tem.vn/01/{GTIN}/21/ABC", "16 characters"),
    (f"https://tem.vn/01/{GTIN}/21/{SERIAL}/10/LOT1", "out of order"),
    ("https://tem.vn/x/A1B2C3D4E5F6G7H8", "not a GS1 Digital Link"),
    ("https://tem.vn/", "not a GS1 Digital Link"),
])
def test_malformed_scans_are_refused_with_a_reason(text, words):
    with pytest.raises(StampURLError, match=words):
        parse_stamp_url(text)


def test_stamp_url_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_stamp_url("hello")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_either_parses_or_raises_stamp_url_error(text):
    try:
        ref = parse_stamp_url(text)
    except StampURLError:
        return
    assert len(ref.serial) == 16 and set(ref.serial) <= set(ALPHABET)


@pytest.mark.parametrize("text", [
    "https://[tem.vn/t/A1B2C3D4E5F6G7H8",      # urlsplit: Invalid IPv6 URL
    "https://tem\uff03.vn/t/A1B2C3D4E5F6G7H8",  # netloc with a character NFKC turns into '#'
])
def test_unparseable_addresses_raise_stamp_url_error_not_a_crash(text):
    """A station's scan loop catches StampURLError; anything else would stop it."""
    with pytest.raises(StampURLError, match="not a web address"):
        parse_stamp_url(text)
