"""GS1 identifiers (tem/gs1.py): GTIN check digits and GS1 Digital Link URI
syntax 1.6, checked against the standard's own examples and against biip."""
from __future__ import annotations

import datetime as dt

import pytest
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gtin import Gtin, ParseError, gs1_standard_check_digit
from hypothesis import given, settings
from hypothesis import strategies as st

from tem import gs1
from tem.gs1 import DigitalLink, GS1Error, build, check_digit, is_gtin, normalize_gtin, parse

FAST = settings(max_examples=150, deadline=None)

CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
assert len(CSET82) == 82

digits = st.text("0123456789", min_size=1, max_size=16)
gtin_bodies = st.sampled_from([7, 11, 12, 13]).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))
valid_gtins = gtin_bodies.map(lambda b: b + str(check_digit(b)))
values20 = st.text(CSET82, min_size=1, max_size=20)
values28 = st.text(CSET82, min_size=1, max_size=28)
upper20 = st.text(CSET82.replace("abcdefghijklmnopqrstuvwxyz", ""), min_size=1, max_size=20)


def _biip_ok(text: str) -> bool:
    try:
        Gtin.parse(text)
    except ParseError:
        return False
    return True


# --- GTIN -----------------------------------------------------------------

@pytest.mark.parametrize("gtin, as14", [
    ("09520123456788", "09520123456788"),   # GTIN-13 as 14, the Digital Link standard's example
    ("9520123456788", "09520123456788"),    # GTIN-13
    ("614141123452", "00614141123452"),     # GTIN-12 (U.P.C.)
    ("95012346", "00000095012346"),         # GTIN-8
    ("10614141000415", "10614141000415"),   # GTIN-14 with packaging indicator
    (" 9520123456788 ", "09520123456788"),  # surrounding spaces from a form
])
def test_normalize_gtin_pads_to_14_digits(gtin, as14):
    assert normalize_gtin(gtin) == as14
    assert is_gtin(gtin)


@pytest.mark.parametrize("gtin, words", [
    ("9520123456789", "check digit 9, it should be 8"),
    ("614141123453", "check digit 3, it should be 2"),
    ("95201234567", "has 11 digits"),
    ("123456789012345", "has 15 digits"),
    ("", "only digits"),
    ("95201234567a8", "only digits"),
    ("٩٥٢٠١٢٣٤٥٦٧٨٨", "only digits"),  # Arabic-Indic digits are not GTIN digits
    ("9520-12345678", "only digits"),
])
def test_normalize_gtin_rejects_with_a_reason(gtin, words):
    with pytest.raises(GS1Error, match=words):
        normalize_gtin(gtin)
    assert not is_gtin(gtin)


@FAST
@given(st.text("0123456789", min_size=1, max_size=17))
def test_check_digit_agrees_with_biip(body):
    assert check_digit(body) == gs1_standard_check_digit(body)


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    st.sampled_from([8, 12, 13, 14]).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)),
    valid_gtins,
    digits,
))
def test_gtin_validity_agrees_with_biip(text):
    assert is_gtin(text) == _biip_ok(text)


@FAST
@given(valid_gtins)
def test_valid_gtin_normalises_to_14_digits_keeping_its_digits(gtin):
    n = normalize_gtin(gtin)
    assert len(n) == 14 and n.lstrip("0") == gtin.lstrip("0")
    assert normalize_gtin(n) == n
    assert Gtin.parse(gtin).as_gtin_14() == n


@FAST
@given(valid_gtins, st.integers(1, 9))
def test_any_changed_check_digit_is_refused(gtin, delta):
    bad = gtin[:-1] + str((int(gtin[-1]) + delta) % 10)
    assert not is_gtin(bad)


@FAST
@given(valid_gtins, st.data())
def test_single_digit_error_in_the_body_is_refused(gtin, data):
    pos = data.draw(st.integers(0, len(gtin) - 2))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != gtin[pos]]))
    bad = gtin[:pos] + new + gtin[pos + 1:]
    assert not is_gtin(bad)


# --- Digital Link: examples from the GS1 Digital Link standard -------------

def test_standard_example_gtin_only():
    dl = parse("https://id.gs1.org/01/09520123456788")
    assert dl.host == "id.gs1.org" and dl.gtin == "09520123456788"
    assert dl.qualifiers == {} and dl.attributes == {} and dl.lot is None and dl.serial is None


def test_standard_example_gtin13_is_padded_to_14():
    dl = parse("https://brand.example.com/01/9520123456788")
    assert dl.host == "brand.example.com"
    assert dl.gtin == "09520123456788"


def test_standard_example_lot_serial_and_expiry_in_the_query():
    dl = parse("https://example.com/01/09520123456788/10/ABC123/21/12345?17=180426")
    assert dl.gtin == "09520123456788"
    assert dl.lot == "ABC123" and dl.serial == "12345"
    assert dl.attributes == {"17": "180426"}
    assert dl.expiry == dt.date(2018, 4, 26)


def test_standard_example_variant_and_percent_encoded_lot():
    dl = parse("https://example.com/01/09520123456788/22/2A/10/ABC%2F123/21/12345")
    assert dl.qualifiers == {"22": "2A", "10": "ABC/123", "21": "12345"}
    assert list(dl.qualifiers) == ["22", "10", "21"]


@pytest.mark.parametrize("uri", [
    "https://example.com/01/09520123456788/21/12345/10/ABC123",   # serial before lot
    "https://example.com/01/09520123456788/10/ABC123/22/2A",      # variant after lot
    "https://example.com/01/09520123456788/235/X1/21/12345",      # TPX before serial
    "https://example.com/01/09520123456788/10/A/10/B",            # lot twice
])
def test_qualifiers_out_of_order_are_rejected(uri):
    with pytest.raises(GS1Error, match="out of order"):
        parse(uri)


@pytest.mark.parametrize("uri", [
    "https://example.com/01/09520123456788/21/12345/10/ABC123",
    "https://example.com/01/09520123456788/10/ABC123/21/12345?17=180426",
    "https://example.com/01/09520123456788/22/2A/10/ABC%2F123/21/12345",
    "https://brand.example.com/01/9520123456788",
    "https://id.gs1.org/01/09520123456788",
])
def test_examples_agree_with_biip(uri):
    try:
        ref = GS1DigitalLinkURI.parse(uri)
    except Exception:  # biip refuses it: so must we
        with pytest.raises(GS1Error):
            parse(uri)
        return
    ours = parse(uri)
    theirs = {e.ai.ai: e.value for e in ref.element_strings}
    assert theirs.pop("01") == ours.gtin
    assert theirs == {**ours.qualifiers, **ours.attributes}


def test_uppercase_qr_form_parses():
    dl = parse("HTTPS://TEM.VN/01/09520123456788/21/A1B2C3D4E5F6G7H8")
    assert dl.host == "tem.vn" and dl.gtin == "09520123456788" and dl.serial == "A1B2C3D4E5F6G7H8"


def test_path_prefix_before_01_is_kept():
    dl = parse("https://example.com/my/shop/01/09520123456788/10/L1")
    assert dl.prefix == "/my/shop" and dl.lot == "L1"
    assert dl.uri() == "https://example.com/my/shop/01/09520123456788/10/L1"


def test_non_gs1_query_parameters_are_kept_apart_from_attributes():
    dl = parse("https://id.gs1.org/01/09520123456788?linkType=gs1:pip&17=251231")
    assert dl.params == {"linkType": "gs1:pip"}
    assert dl.attributes == {"17": "251231"}


@pytest.mark.parametrize("uri, words", [
    ("ftp://example.com/01/09520123456788", "not an http"),
    ("example.com/01/09520123456788", "not an http"),
    ("https:///01/09520123456788", "not an http"),
    ("https://example.com/02/09520123456788", "no /01/"),
    ("https://example.com/", "no /01/"),
    ("https://example.com/01/09520123456789", "check digit"),
    ("https://example.com/01/0952012345678", "check digit"),
    ("https://example.com/01/09520123456788/99/X", "not a qualifier"),
    ("https://example.com/01/09520123456788/10/A%20B", "batch/lot"),
    ("https://example.com/01/09520123456788/10/" + "A" * 21, "batch/lot"),
    ("https://example.com/01/09520123456788/21/" + "A" * 21, "serial"),
    ("https://example.com/01/09520123456788/235/" + "A" * 29, "third-party serial"),
    ("https://example.com/01/09520123456788/10/ABC%0A", "batch/lot"),  # newline is not set 82
    ("https://example.com/01/09520123456788/10/L%C3%B4", "batch/lot"),  # 'ô' is not set 82
    ("https://example.com/01/09520123456788?17=18042", "YYMMDD"),
    ("https://example.com/01/09520123456788?17=180431", "not a real date"),
    ("https://example.com/01/09520123456788?17=181300", "not a real date"),
    ("https://example.com/01/09520123456788?17=180000", "not a real date"),
    ("https://example.com/01/09520123456788?11=18xx26", "production date"),
])
def test_malformed_digital_links_are_rejected_saying_why(uri, words):
    with pytest.raises(GS1Error, match=words):
        parse(uri)


def test_third_party_serial_may_be_28_characters():
    dl = parse("https://example.com/01/09520123456788/235/" + "X" * 28)
    assert dl.qualifiers["235"] == "X" * 28


@pytest.mark.parametrize("yymmdd, date", [
    ("180426", dt.date(2018, 4, 26)),
    ("240200", dt.date(2024, 2, 29)),  # DD=00: the last day of the month
    ("230200", dt.date(2023, 2, 28)),
    ("251200", dt.date(2025, 12, 31)),
    ("260100", dt.date(2026, 1, 31)),
    ("991231", dt.date(1999, 12, 31)),
    ("500101", dt.date(2050, 1, 1)),
])
def test_expiry_dates(yymmdd, date):
    assert parse(f"https://e.vn/01/09520123456788?17={yymmdd}").expiry == date


def test_no_expiry_is_none():
    assert parse("https://e.vn/01/09520123456788").expiry is None


# --- Digital Link: build --------------------------------------------------

def test_build_pads_gtin_orders_qualifiers_and_puts_expiry_in_the_query():
    dl = build("TEM.VN", "9520123456788", serial="12345", lot="ABC/123", expiry=dt.date(2018, 4, 26))
    assert dl.uri() == "https://tem.vn/01/09520123456788/10/ABC%2F123/21/12345?17=180426"
    assert dl.qr_text() == "HTTPS://TEM.VN/01/09520123456788/10/ABC%2F123/21/12345?17=180426"


def test_build_percent_encodes_reserved_characters_of_set_82():
    dl = build("e.vn", "09520123456788", lot="A/B?C&D=%", serial="x+y")
    path = dl.path()
    assert "/10/A%2FB%3FC%26D%3D%25/" in path and path.endswith("/21/x%2By")
    assert parse(dl.uri()).qualifiers == {"10": "A/B?C&D=%", "21": "x+y"}


@pytest.mark.parametrize("kwargs, words", [
    ({"gtin": "09520123456789"}, "check digit"),
    ({"gtin": "09520123456788", "lot": ""}, "batch/lot"),
    ({"gtin": "09520123456788", "lot": "A B"}, "batch/lot"),
    ({"gtin": "09520123456788", "lot": "Lô1"}, "batch/lot"),
    ({"gtin": "09520123456788", "serial": "S" * 21}, "serial"),
    ({"gtin": "09520123456788", "serial": "S\n"}, "serial"),
])
def test_build_refuses_what_cannot_be_a_digital_link(kwargs, words):
    with pytest.raises(GS1Error, match=words):
        build("e.vn", **kwargs)


@FAST
@given(valid_gtins, st.none() | values20, st.none() | values20,
       st.none() | st.dates(dt.date(2000, 1, 1), dt.date(2050, 12, 31)))
def test_build_parse_round_trip(gtin, lot, serial, expiry):
    dl = build("tem.vn", gtin, lot=lot, serial=serial, expiry=expiry)
    back = parse(dl.uri())
    assert back.gtin == normalize_gtin(gtin)
    assert back.lot == lot and back.serial == serial
    assert back.expiry == expiry
    assert back == dl
    # the QR form (upper-case scheme and host) is the same link
    assert dl.qr_text().startswith("HTTPS://TEM.VN/01/")
    assert parse(dl.qr_text()) == dl


@FAST
@given(valid_gtins, st.none() | upper20, st.none() | upper20)
def test_fully_uppercased_link_parses_to_the_same(gtin, lot, serial):
    """Upper-casing a whole link (scheme, host, path, %-escapes) changes nothing
    when the lot and serial have no lower-case letters."""
    dl = build("tem.vn", gtin, lot=lot, serial=serial)
    assert parse(dl.uri().upper()) == dl


@FAST
@given(valid_gtins, st.none() | values20, st.none() | values20, st.none() | values20, st.none() | values28)
def test_all_qualifiers_round_trip_and_agree_with_biip(gtin, v22, lot, serial, tpx):
    quals = {ai: v for ai, v in (("22", v22), ("10", lot), ("21", serial), ("235", tpx)) if v is not None}
    dl = DigitalLink(host="example.com", gtin=normalize_gtin(gtin), qualifiers=quals)
    uri = dl.uri()
    back = parse(uri)
    assert back.qualifiers == quals and list(back.qualifiers) == [ai for ai in gs1.QUALIFIERS if ai in quals]
    ref = GS1DigitalLinkURI.parse(uri)
    assert {e.ai.ai: e.value for e in ref.element_strings} == {"01": dl.gtin, **quals}


@FAST
@given(valid_gtins, st.dates(dt.date(2000, 1, 1), dt.date(2050, 12, 31)), st.sampled_from(sorted(gs1.DATE_AIS)))
def test_date_attributes_round_trip(gtin, date, ai):
    dl = build("e.vn", gtin, **{ai: date.strftime("%y%m%d")})
    back = parse(dl.uri())
    assert back.attributes == {ai: date.strftime("%y%m%d")}
    assert gs1._yymmdd(ai, back.attributes[ai]) == date


@pytest.mark.parametrize("uri", ["https://[example.com/01/09520123456788", "http://ex\uff0fample.com/01/09520123456788"])
def test_unparseable_addresses_raise_gs1_error(uri):
    with pytest.raises(GS1Error, match="not a web address"):
        parse(uri)
