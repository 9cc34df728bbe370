"""The vendor's answer for one scanned code, from synced data or the hub's answer about it
(no keys on stations).

Green only for a stamp the hub said is active; never green for "not in the cache"."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from station.scanner.stampcache import StampCache, local_time
from tem.stamp import StampURLError, parse_stamp_url

VOID_REASONS_VI = {
    "misprint": "in lỗi", "damaged": "hư hỏng", "recalled": "sản phẩm bị thu hồi", "stolen": "tem bị mất cắp",
    "other": "lý do khác",
}


@dataclass
class Verdict:
    kind: str  # genuine | not_active | sold | void | wrong_product | unknown | forged
    colour: str  # green | amber | red | grey
    headline: str  # Vietnamese, the big line
    detail: str = ""
    serial: str | None = None
    gtin: str | None = None
    product: str | None = None
    producer: str | None = None
    lot: str | None = None
    online: bool = False
    text: str = ""  # what was read, for the log on the page
    reason: str | None = None  # why a void stamp was cancelled (misprint, damaged, recalled, ...)
    hub: str = ""  # asked the hub: "answered", "unknown" (never issued) or "silent" (no answer in time)
    at: str = field(default_factory=lambda: dt.datetime.now().strftime("%H:%M:%S"))

    @property
    def sound(self) -> str:
        return {"green": "ok", "red": "bad"}.get(self.colour, "unsure")

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"sound": self.sound}


def judge(text: str, cache: StampCache, online: bool, hosts: frozenset[str] | None = None,
          hub: str = "") -> Verdict:
    """`hub` says what the hub answered when asked about this stamp (its answer is already
    in the cache): "" not asked, "answered", "unknown" (it never issued the serial), "silent"."""
    try:
        ref = parse_stamp_url(text, hosts)
    except StampURLError as exc:
        return Verdict("forged", "red", "Không xác minh được",
                       f"Mã này không phải tem Tem hợp lệ ({exc}).", online=online, text=text[:200])
    known = cache.lookup(ref.serial)
    base: dict[str, Any] = {"serial": ref.serial, "gtin": ref.gtin, "online": online, "text": text[:200], "hub": hub}
    if known is None:
        if hub == "unknown":  # no product names: the code only claims them
            return Verdict("forged", "red", "Không xác minh được",
                           "Trung tâm chưa từng phát hành tem này: có thể là tem giả. Không bán sản phẩm này.", **base)
        names = cache.product(ref.gtin)
        if names:
            base.update(product=names[0], producer=names[1])
        if hub == "silent":
            return Verdict("unknown", "grey", "Không xác minh được khi ngoại tuyến",
                           "Trung tâm không trả lời kịp và tem chưa có trong dữ liệu đã đồng bộ. "
                           "Đừng coi là hàng chính hãng.", **base)
        if online:
            return Verdict("unknown", "grey", "Không xác minh được tại trạm",
                           "Tem chưa có trong dữ liệu của trạm. Đã gửi về trung tâm để kiểm tra; "
                           "đừng coi là hàng chính hãng.", **base)
        return Verdict("unknown", "grey", "Không xác minh được khi ngoại tuyến",
                       "Trạm đang mất kết nối và tem chưa có trong dữ liệu đã đồng bộ. "
                       "Đừng coi là hàng chính hãng.", **base)
    base.update(gtin=known.gtin or ref.gtin, product=known.product, producer=known.producer, lot=known.lot)
    if ref.gtin and known.gtin and ref.gtin != known.gtin:
        # The serial is real but printed under another product's GTIN: a copied code.
        return Verdict("wrong_product", "red", "Không xác minh được",
                       "Mã tem thuộc về sản phẩm khác: có thể là tem sao chép.", **base)
    if known.state == "void":
        reason = VOID_REASONS_VI.get(known.void_reason or "other", known.void_reason or "")
        return Verdict("void", "red", "Tem đã bị hủy", f"Lý do: {reason}. Không bán sản phẩm này.",
                       reason=known.void_reason or "other", **base)
    if known.state in ("issued", "printed"):
        # The cache is as of the last sync: a pack activated since then reads as not yet active,
        # unless the hub was just asked.
        at = local_time(cache.synced_at())
        when = f" (theo dữ liệu đồng bộ lúc {at})" if at else ""
        if hub == "answered":
            when = " (theo trung tâm)"
        elif hub == "silent":
            when = f" (theo dữ liệu đồng bộ lúc {at}; trung tâm không trả lời)" if at else " (trung tâm không trả lời)"
        return Verdict("not_active", "amber", "Chưa kích hoạt",
                       f"Tem chưa được gắn cho lô hàng nào{when}. Hỏi nhà cung cấp.", **base)
    if known.state == "sold":
        return Verdict("sold", "amber", "Tem đã bán trước đó",
                       "Tem thật nhưng đã được ghi bán: bao bì có thể bị dùng lại.", **base)
    return Verdict("genuine", "green", "Hàng chính hãng", "", **base)
