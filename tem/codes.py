"""Stamp serials: 16 characters of Crockford Base32 that only the hub can mint.

Layout: 1 char key id, 7 chars stamp number (35 bits), 8 chars tag (40 bits of
HMAC-SHA256 over the GTIN and number under the key named by the key id).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from tem import gs1

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# Crockford's decoding rules: what a person or a poor print may turn a symbol into.
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = str.maketrans("", "", " -_.\t")

SERIAL_LENGTH = 16
NUMBER_CHARS = 7
TAG_CHARS = 8
MAX_NUMBER = 32**NUMBER_CHARS - 1
# Stamps minted before they are bound to a product (pre-printed rolls) use this.
NO_GTIN = "0" * 14


class CodeError(ValueError):
    """A serial that is not well formed; the message says why in plain words."""


def encode(value: int, width: int) -> str:
    if value < 0 or value >= 32**width:
        raise CodeError(f"{value} does not fit in {width} Base32 characters")
    out = []
    for _ in range(width):
        value, digit = divmod(value, 32)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def decode(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + _VALUE[ch]
    return value


def normalize(text: str) -> str:
    """Upper-case, drop spaces and dashes, map I/L→1 and O→0; reject the rest."""
    s = text.upper().translate(_SEPARATORS).translate(_CONFUSABLE)
    if len(s) != SERIAL_LENGTH:
        raise CodeError(f"a stamp code has {SERIAL_LENGTH} characters, this one has {len(s)}")
    bad = sorted({c for c in s if c not in _VALUE})
    if bad:
        raise CodeError(f"a stamp code cannot contain {', '.join(repr(c) for c in bad)}")
    return s


@dataclass(frozen=True)
class Serial:
    key_id: str
    number: int
    tag: str

    @property
    def text(self) -> str:
        return self.key_id + encode(self.number, NUMBER_CHARS) + self.tag

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> "Serial":
        s = normalize(text)
        return cls(s[0], decode(s[1 : 1 + NUMBER_CHARS]), s[1 + NUMBER_CHARS :])


def grouped(serial: str) -> str:
    """The form printed for people to type: XXXX-XXXX-XXXX-XXXX."""
    return "-".join(serial[i : i + 4] for i in range(0, len(serial), 4))


def _tag(key: bytes, key_id: str, number: int, gtin: str) -> str:
    msg = f"{gtin}:{key_id}{encode(number, NUMBER_CHARS)}".encode()
    digest = hmac.new(key, msg, hashlib.sha256).digest()
    return encode(int.from_bytes(digest[:5], "big"), TAG_CHARS)


class Keyring:
    """Minting keys by key id; the newest id mints, every id still verifies."""

    def __init__(self, keys: Mapping[str, bytes], current: str | None = None):
        if not keys:
            raise CodeError("a keyring needs at least one key")
        for key_id, key in keys.items():
            if len(key_id) != 1 or key_id not in _VALUE:
                raise CodeError(f"key id {key_id!r} must be one Base32 character")
            if len(key) < 16:
                raise CodeError(f"key {key_id} is too short: use at least 16 random bytes")
        self._keys = dict(keys)
        self.current = current or max(keys, key=_VALUE.__getitem__)
        if self.current not in self._keys:
            raise CodeError(f"current key id {self.current!r} has no key")

    def mint(self, number: int, gtin: str = NO_GTIN) -> str:
        if not 0 <= number <= MAX_NUMBER:
            raise CodeError(f"stamp number {number} is outside 0..{MAX_NUMBER}")
        try:
            gtin = gs1.normalize_gtin(gtin)
        except gs1.GS1Error as exc:
            raise CodeError(str(exc)) from None
        key_id = self.current
        return key_id + encode(number, NUMBER_CHARS) + _tag(self._keys[key_id], key_id, number, gtin)

    def verify(self, text: str, gtin: str = NO_GTIN) -> bool:
        """True only for a serial this keyring minted for that GTIN."""
        try:
            s = Serial.parse(text)
            gtin = gs1.normalize_gtin(gtin)
        except (CodeError, gs1.GS1Error):
            return False
        key = self._keys.get(s.key_id)
        if key is None:
            return False
        return hmac.compare_digest(s.tag, _tag(key, s.key_id, s.number, gtin))
