"""Stamp serials (tem/codes.py): Crockford Base32, normalising what people type,
minting only with a key, verification and key rotation."""
from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tem import codes, gs1
from tem.codes import ALPHABET, MAX_NUMBER, NO_GTIN, CodeError, Keyring, Serial, grouped, normalize

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
RING = Keyring({"A": KEY_A})
GTIN = "08934567890120"

numbers = st.integers(min_value=0, max_value=MAX_NUMBER)
# Valid GTIN-14s: 13 random digits and their check digit.
gtins = st.text("0123456789", min_size=13, max_size=13).map(lambda b: b + str(gs1.check_digit(b)))
serial_texts = st.text(ALPHABET, min_size=16, max_size=16)
CONFUSABLE = {"O": "0", "I": "1", "L": "1"}

FAST = settings(max_examples=150, deadline=None)


# --- alphabet and encoding -------------------------------------------------

def test_alphabet_is_crockford_base32_without_i_l_o_u():
    assert len(ALPHABET) == 32 == len(set(ALPHABET))
    assert not set("ILOU") & set(ALPHABET)


@FAST
@given(st.integers(min_value=0, max_value=32**7 - 1))
def test_encode_decode_round_trip_in_seven_characters(value):
    text = codes.encode(value, 7)
    assert len(text) == 7
    assert codes.decode(text) == value


def test_encode_refuses_a_value_that_does_not_fit():
    with pytest.raises(CodeError):
        codes.encode(32**7, 7)
    with pytest.raises(CodeError):
        codes.encode(-1, 7)


# --- normalising input ----------------------------------------------------

@FAST
@given(serial_texts)
def test_normalize_of_grouped_form_is_the_serial(s):
    g = grouped(s)
    assert g.count("-") == 3 and all(len(part) == 4 for part in g.split("-"))
    assert normalize(g) == s


@FAST
@given(serial_texts, st.data())
def test_lower_case_spaces_and_dashes_normalize_to_the_serial(s, data):
    typed = "".join(c + data.draw(st.sampled_from(["", " ", "-", "  ", "\t"])) for c in s.lower())
    assert normalize(typed) == s
    assert normalize("  " + s.lower() + " ") == s


@FAST
@given(serial_texts, st.data())
def test_confusable_letters_read_as_the_digits_they_look_like(s, data):
    typed = []
    for c in s:
        alts = [k for k, v in CONFUSABLE.items() if v == c]
        choice = data.draw(st.sampled_from([c] + alts + [a.lower() for a in alts]))
        typed.append(choice)
    assert normalize("".join(typed)) == s


def test_normalize_example_a_person_might_type():
    assert normalize("a1b2-c3d4 e5f6-g7h8") == "A1B2C3D4E5F6G7H8"
    assert normalize("OOOO-IIII-LLLL-oooo") == "0000111111110000"


@pytest.mark.parametrize("text, words", [
    ("A1B2C3D4E5F6G7H", "16 characters, this one has 15"),
    ("A1B2C3D4E5F6G7H8X", "this one has 17"),
    ("", "this one has 0"),
    ("A1B2C3D4E5F6G7HU", "'U'"),
    ("A1B2C3D4E5F6G7H*", "'*'"),
])
def test_normalize_rejects_bad_input_saying_why(text, words):
    with pytest.raises(CodeError, match=words.replace("*", r"\*")):
        normalize(text)


def test_code_error_is_a_value_error():
    with pytest.raises(ValueError):
        normalize("nope")


# --- Serial ---------------------------------------------------------------

@FAST
@given(st.sampled_from(ALPHABET), numbers, st.text(ALPHABET, min_size=8, max_size=8))
def test_serial_parse_splits_key_id_number_and_tag(key_id, number, tag):
    s = Serial(key_id, number, tag)
    assert len(s.text) == 16 and str(s) == s.text
    assert Serial.parse(grouped(s.text).lower()) == s


def test_serial_parse_rejects_malformed_text():
    with pytest.raises(CodeError):
        Serial.parse("ABC")


# --- keyring: mint and verify ---------------------------------------------

@FAST
@given(numbers, gtins)
def test_mint_then_verify_round_trip_for_any_number_and_gtin(number, gtin):
    serial = RING.mint(number, gtin)
    assert len(serial) == 16 and set(serial) <= set(ALPHABET)
    assert serial[0] == "A"
    assert Serial.parse(serial).number == number
    assert RING.verify(serial, gtin)
    # what a person types or a scanner reads still verifies
    assert RING.verify(grouped(serial).lower(), gtin)


@FAST
@given(numbers)
def test_mint_without_gtin_verifies_without_gtin(number):
    serial = RING.mint(number)
    assert RING.verify(serial)
    assert RING.verify(serial, NO_GTIN)


def test_mint_is_deterministic_and_numbers_differ():
    assert RING.mint(7, GTIN) == RING.mint(7, GTIN)
    assert RING.mint(7, GTIN) != RING.mint(8, GTIN)


@pytest.mark.parametrize("number", [-1, MAX_NUMBER + 1, 2**40])
def test_mint_refuses_numbers_outside_35_bits(number):
    with pytest.raises(CodeError, match="outside"):
        RING.mint(number, GTIN)


def test_mint_extremes_of_the_number_range():
    for n in (0, MAX_NUMBER):
        assert RING.verify(RING.mint(n, GTIN), GTIN)
    assert RING.mint(0)[1:8] == "0000000"
    assert RING.mint(MAX_NUMBER)[1:8] == "ZZZZZZZ"


def _confusable_equivalent(a: str, b: str) -> bool:
    return normalize(a) == normalize(b)


@settings(max_examples=25, deadline=None)
@given(numbers, gtins, st.data())
def test_any_single_character_change_fails_verification(number, gtin, data):
    serial = RING.mint(number, gtin)
    positions = data.draw(st.lists(st.integers(0, 15), min_size=1, max_size=4, unique=True))
    for pos in positions:
        for sym in ALPHABET:
            if sym == serial[pos]:
                continue
            changed = serial[:pos] + sym + serial[pos + 1:]
            assert not RING.verify(changed, gtin), (serial, pos, sym)


@settings(max_examples=40, deadline=None)
@given(numbers, gtins, st.integers(0, 15), st.sampled_from(sorted(CONFUSABLE)))
def test_confusable_substitution_is_the_same_serial_not_a_forgery(number, gtin, pos, letter):
    serial = RING.mint(number, gtin)
    changed = serial[:pos] + letter + serial[pos + 1:]
    if CONFUSABLE[letter] == serial[pos]:
        # O for 0, I or L for 1: the same serial as read by a person, correctly accepted
        assert _confusable_equivalent(changed, serial)
        assert RING.verify(changed, gtin)
    else:
        # the letter reads as another digit: a different serial, refused
        assert normalize(changed) != serial
        assert not RING.verify(changed, gtin)


def test_every_single_character_change_of_one_serial_is_refused():
    serial = RING.mint(123456, GTIN)
    refused = 0
    for pos in range(16):
        for sym in ALPHABET + "OIL":
            changed = serial[:pos] + sym + serial[pos + 1:]
            if normalize(changed) == serial:
                continue
            assert not RING.verify(changed, GTIN)
            refused += 1
    assert refused >= 16 * 31  # every other symbol, plus O/I/L where they read as another digit


@FAST
@given(numbers, gtins, gtins)
def test_verify_fails_for_another_gtin(number, gtin, other):
    assume(other != gtin)
    assert not RING.verify(RING.mint(number, gtin), other)


@FAST
@given(numbers, gtins)
def test_verify_fails_under_another_key_with_the_same_id(number, gtin):
    other = Keyring({"A": KEY_B})
    assert not other.verify(RING.mint(number, gtin), gtin)
    assert not RING.verify(other.mint(number, gtin), gtin)


def test_gtin_13_and_its_padded_gtin_14_are_the_same_product():
    """A URL carries GTIN-14; the product may be registered as GTIN-13."""
    serial = RING.mint(42, "9520123456788")
    assert RING.verify(serial, "09520123456788")
    assert RING.verify(RING.mint(42, "09520123456788"), "9520123456788")


def test_mint_refuses_an_invalid_gtin_and_verify_says_no():
    with pytest.raises(CodeError, match="check digit"):
        RING.mint(1, "09520123456789")
    assert not RING.verify(RING.mint(1, GTIN), "09520123456789")
    assert not RING.verify(RING.mint(1, GTIN), "not a gtin")


@pytest.mark.parametrize("text", ["", "garbage", "A" * 15, "A" * 17, "U" * 16])
def test_verify_returns_false_for_malformed_text(text):
    assert RING.verify(text, GTIN) is False


def test_random_serial_does_not_verify():
    assert not RING.verify("A000000100000000", GTIN)


# --- key rotation ---------------------------------------------------------

def test_newest_key_id_mints_and_old_ids_still_verify():
    old = Keyring({"A": KEY_A})
    s_old = old.mint(5, GTIN)
    rotated = Keyring({"A": KEY_A, "B": KEY_B})
    assert rotated.current == "B"
    s_new = rotated.mint(6, GTIN)
    assert s_new[0] == "B"
    assert rotated.verify(s_old, GTIN) and rotated.verify(s_new, GTIN)
    # the old ring does not know key B
    assert not old.verify(s_new, GTIN)


def test_newest_is_by_base32_order_not_insertion_order():
    ring = Keyring({"Z": KEY_B, "0": KEY_A, "9": KEY_A})
    assert ring.current == "Z"
    assert ring.mint(1)[0] == "Z"


def test_explicit_current_key_mints():
    ring = Keyring({"A": KEY_A, "B": KEY_B}, current="A")
    assert ring.mint(9, GTIN)[0] == "A"
    assert ring.verify(ring.mint(9, GTIN), GTIN)


@FAST
@given(numbers, gtins)
def test_key_id_is_bound_into_the_tag(number, gtin):
    """Swapping the key id of a serial to another known id is refused."""
    ring = Keyring({"A": KEY_A, "B": KEY_A})  # same key bytes under two ids
    serial = ring.mint(number, gtin)
    assert serial[0] == "B"
    assert not ring.verify("A" + serial[1:], gtin)


def test_unknown_key_id_does_not_verify():
    s = Keyring({"C": KEY_A}).mint(3, GTIN)
    assert not RING.verify(s, GTIN)


@pytest.mark.parametrize("keys, current, words", [
    ({}, None, "at least one key"),
    ({"a": KEY_A}, None, "one Base32 character"),
    ({"AB": KEY_A}, None, "one Base32 character"),
    ({"U": KEY_A}, None, "one Base32 character"),
    ({"A": b"short"}, None, "too short"),
    ({"A": KEY_A}, "B", "has no key"),
])
def test_keyring_refuses_bad_keys(keys, current, words):
    with pytest.raises(CodeError, match=words):
        Keyring(keys, current)


def test_minting_needs_a_key():
    """There is no module-level way to mint: only a Keyring holding a key does."""
    assert not any(name.startswith("mint") for name in dir(codes))
    with pytest.raises(TypeError):
        Keyring()  # type: ignore[call-arg]
