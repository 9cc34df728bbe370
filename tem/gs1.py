"""GS1 identifiers: GTIN check digits and GS1 Digital Link URIs (syntax 1.6).

Only what Tem prints and reads: AI 01 (GTIN) as primary key, the qualifiers
22, 10, 21, 235 in the standard's order, and data attributes in the query string.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit


class GS1Error(ValueError):
    """An identifier or URI that does not follow GS1 rules; the message says which."""


def check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before it (weights 3,1,… from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalize_gtin(text: str) -> str:
    """A GTIN-8/12/13/14 as 14 digits, its check digit verified."""
    s = text.strip()
    if not s.isdigit() or not s.isascii():
        raise GS1Error(f"GTIN {text!r} must contain only digits")
    if len(s) not in (8, 12, 13, 14):
        raise GS1Error(f"GTIN {text!r} has {len(s)} digits; a GTIN has 8, 12, 13 or 14")
    expected = check_digit(s[:-1])
    if int(s[-1]) != expected:
        raise GS1Error(f"GTIN {text!r} has check digit {s[-1]}, it should be {expected}")
    return s.zfill(14)


def is_gtin(text: str) -> bool:
    try:
        normalize_gtin(text)
    except GS1Error:
        return False
    return True


# Key qualifiers of AI 01 in the order the standard requires.
QUALIFIERS = ("22", "10", "21", "235")
_QUALIFIER_NAMES = {"22": "consumer product variant", "10": "batch/lot", "21": "serial", "235": "third-party serial"}
# Data attributes carried as dates (YYMMDD) that Tem reads.
DATE_AIS = {"11": "production date", "13": "packaging date", "15": "best before", "17": "expiry"}
# GS1 AI encodable character set 82, the alphabet of lots and serials.
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]+")
# Maximum lengths (GS1 General Specifications): 22, 10 and 21 are X..20, 235 is X..28.
_MAX_LEN = {"22": 20, "10": 20, "21": 20, "235": 28}


def _valid_value(ai: str, value: str) -> bool:
    return bool(_CSET82.fullmatch(value)) and len(value) <= _MAX_LEN[ai]


def _yymmdd(ai: str, text: str) -> dt.date:
    if not re.fullmatch(r"\d{6}", text):
        raise GS1Error(f"AI {ai} ({DATE_AIS[ai]}) must be a date YYMMDD, got {text!r}")
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    # GS1 General Specifications 7.12: a two-digit year lies within -49..+50 of now;
    # a fixed pivot keeps parsing pure. DD=00 means the last day of the month.
    year = 2000 + yy if yy < 51 else 1900 + yy
    if not 1 <= mm <= 12:
        raise GS1Error(f"AI {ai} ({DATE_AIS[ai]}) {text!r} is not a real date")
    try:
        if dd == 0:
            nxt = dt.date(year + mm // 12, mm % 12 + 1, 1)
            return nxt - dt.timedelta(days=1)
        return dt.date(year, mm, dd)
    except ValueError:
        raise GS1Error(f"AI {ai} ({DATE_AIS[ai]}) {text!r} is not a real date") from None


@dataclass(frozen=True)
class DigitalLink:
    host: str
    gtin: str
    qualifiers: dict[str, str] = field(default_factory=dict)  # AI -> value
    attributes: dict[str, str] = field(default_factory=dict)  # data attributes, AI -> value
    params: dict[str, str] = field(default_factory=dict)  # non-GS1 query (e.g. linkType)
    prefix: str = ""  # path before /01/, kept as given

    @property
    def lot(self) -> str | None:
        return self.qualifiers.get("10")

    @property
    def serial(self) -> str | None:
        return self.qualifiers.get("21")

    @property
    def expiry(self) -> dt.date | None:
        raw = self.attributes.get("17")
        return _yymmdd("17", raw) if raw else None

    def path(self) -> str:
        parts = [self.prefix.rstrip("/"), "01", self.gtin]
        for ai in QUALIFIERS:
            if ai in self.qualifiers:
                parts += [ai, quote(self.qualifiers[ai], safe="")]
        return "/".join(parts)

    def uri(self, scheme: str = "https") -> str:
        query = urlencode({**self.attributes, **self.params})
        return f"{scheme}://{self.host.lower()}{self.path()}" + (f"?{query}" if query else "")

    def qr_text(self) -> str:
        """Upper-case scheme and host so a QR can stay in alphanumeric mode."""
        return self.uri().replace(f"https://{self.host.lower()}", f"HTTPS://{self.host.upper()}", 1)


def build(host: str, gtin: str, *, lot: str | None = None, serial: str | None = None,
          expiry: dt.date | None = None, **attributes: str) -> DigitalLink:
    quals: dict[str, str] = {}
    for ai, value in (("10", lot), ("21", serial)):
        if value is not None:
            if not _valid_value(ai, value):
                raise GS1Error(f"{_QUALIFIER_NAMES[ai]} {value!r} must be 1-{_MAX_LEN[ai]} characters of the GS1 set")
            quals[ai] = value
    attrs = {k: v for k, v in attributes.items()}
    if expiry is not None:
        attrs["17"] = expiry.strftime("%y%m%d")
    return DigitalLink(host=host.lower(), gtin=normalize_gtin(gtin), qualifiers=quals, attributes=attrs)


def parse(uri: str) -> DigitalLink:
    """Parse an uncompressed GS1 Digital Link URI; scheme and host in any case."""
    try:
        parts = urlsplit(uri.strip())
    except ValueError as exc:  # e.g. "Invalid IPv6 URL" for a stray '['
        raise GS1Error(f"{uri!r} is not a web address: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise GS1Error(f"{uri!r} is not an http(s) web address")
    return parse_path(parts.netloc.lower(), parts.path, parts.query)


def parse_path(host: str, path: str, query: str = "") -> DigitalLink:
    segs = path.split("/")
    try:
        start = next(i for i in range(len(segs) - 1, -1, -1)
                     if segs[i] in ("01", "gtin") and (len(segs) - i) % 2 == 0)
    except StopIteration:
        raise GS1Error("the path has no /01/{GTIN}: this is not a GS1 Digital Link") from None
    gtin = normalize_gtin(segs[start + 1])
    quals: dict[str, str] = {}
    last = -1
    for ai, raw in zip(segs[start + 2 :: 2], segs[start + 3 :: 2]):
        if ai not in QUALIFIERS:
            raise GS1Error(f"/{ai}/ is not a qualifier of a GTIN (allowed: {', '.join(QUALIFIERS)})")
        order = QUALIFIERS.index(ai)
        if order <= last:
            raise GS1Error(f"qualifier {ai} is out of order: GS1 requires 22, then 10, then 21, then 235")
        last = order
        value = unquote(raw)
        if not _valid_value(ai, value):
            raise GS1Error(f"{_QUALIFIER_NAMES[ai]} {value!r} must be 1-{_MAX_LEN[ai]} characters of the GS1 set")
        quals[ai] = value
    attrs: dict[str, str] = {}
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.isdigit():
            if key in DATE_AIS:
                _yymmdd(key, value)
            attrs[key] = value
        else:
            params[key] = value
    return DigitalLink(host=host, gtin=gtin, qualifiers=quals, attributes=attrs,
                       params=params, prefix="/".join(segs[:start]))
