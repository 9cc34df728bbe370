"""GS1 resolver links of an item (RFC 9264 linkset): which link types Tem offers for a
GTIN, a lot and a serial, and how a `linkType` request picks one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

VOC = "https://gs1.org/voc/"
# Link types Tem publishes; DESIGN.md: Tem's own page is the default link for a serial it knows.
LINK_TYPES = ("defaultLink", "pip", "traceability", "verificationService", "certificationInfo",
              "locationInfo", "hasRetailers")
MEDIA_TYPE = "application/linkset+json"


@dataclass(frozen=True)
class Link:
    rel: str  # short name, e.g. "pip"
    href: str
    title: str
    type: str = "text/html"


def short_name(link_type: str) -> str | None:
    """gs1:pip, https://gs1.org/voc/pip and http://gs1.org/voc/pip all mean "pip"."""
    for prefix in ("gs1:", VOC, "http://gs1.org/voc/"):
        if link_type.startswith(prefix):
            return link_type[len(prefix):] or None
    return None


def item_path(gtin: str, lot: str | None = None, serial: str | None = None) -> str:
    path = f"/01/{gtin}"
    if lot:
        path += f"/10/{quote(lot, safe='')}"
    if serial:
        path += f"/21/{quote(serial, safe='')}"
    return path


def links_for(root: str, gtin: str, *, lot: str | None, serial: str | None, title: str,
              certificates: list[tuple[str, str | None]], map_url: str | None) -> list[Link]:
    """Links of one item; `certificates` is (title, url-or-None) per certificate."""
    # A serial is printed as /01/{gtin}/21/{serial}, without its lot: that is its identity.
    here = root + item_path(gtin, None if serial else lot, serial)
    product = root + item_path(gtin)
    links = [Link("defaultLink", here, title), Link("pip", product, title)]
    if serial or lot:
        links.append(Link("traceability", here + "#timeline", title))
    if serial:
        links.append(Link("verificationService", here + "#verdict", title))
    for name, url in certificates:
        links.append(Link("certificationInfo", url or product + "#certificates", name))
    if map_url:
        links.append(Link("locationInfo", map_url, title))
    if lot:
        links.append(Link("hasRetailers", root + item_path(gtin, lot) + "#where-to-buy", title))
    return links


def anchor_entry(anchor: str, title: str, links: list[Link], languages: tuple[str, ...]) -> dict[str, Any]:
    entry: dict[str, Any] = {"anchor": anchor, "itemDescription": title}
    for link in links:
        entry.setdefault(VOC + link.rel, []).append(
            {"href": link.href, "title": link.title, "type": link.type, "hreflang": list(languages)})
    return entry


def pick(links: list[Link], link_type: str) -> Link | None:
    name = short_name(link_type)
    return next((link for link in links if link.rel == name), None)
