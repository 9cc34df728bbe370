"""The URL printed in a stamp's QR and the checks a reader makes before trusting it."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from tem import codes, gs1


class StampURLError(ValueError):
    """Text read from a code that is not a well-formed Tem stamp URL."""


@dataclass(frozen=True)
class StampRef:
    serial: str  # normalised 16-character serial
    gtin: str | None = None  # 14 digits; None for the short /t/ form

    def url(self, host: str) -> str:
        if self.gtin is None:
            return f"https://{host.lower()}/t/{self.serial}"
        return gs1.build(host, self.gtin, serial=self.serial).uri()

    def qr_text(self, host: str) -> str:
        """Upper case throughout: the QR then encodes in alphanumeric mode."""
        return self.url(host).upper()


def parse_stamp_url(text: str, hosts: frozenset[str] | set[str] | None = None) -> StampRef:
    """Validate a scanned payload: host (when a list is given), GTIN check digit,
    serial alphabet and length. Authenticity is judged elsewhere."""
    try:
        parts = urlsplit(text.strip())
    except ValueError as exc:  # e.g. "Invalid IPv6 URL" for a stray '['
        raise StampURLError(f"not a web address: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise StampURLError("not a web address")
    host = parts.netloc.lower()
    if hosts and host not in {h.lower() for h in hosts}:
        raise StampURLError(f"host {host} is not a Tem hub")
    segs = [s for s in parts.path.split("/") if s]
    try:
        if len(segs) == 2 and segs[0].lower() == "t":
            return StampRef(serial=codes.normalize(segs[1]))
        link = gs1.parse_path(host, parts.path, parts.query)
        if link.serial is None:
            raise StampURLError("the address has no serial (/21/)")
        return StampRef(serial=codes.normalize(link.serial), gtin=link.gtin)
    except (gs1.GS1Error, codes.CodeError) as exc:
        raise StampURLError(str(exc)) from None
