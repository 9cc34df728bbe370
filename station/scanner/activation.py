"""The activation flow on a packing line: every stamp the camera newly sees is bound to the
current batch (`activated` event). A stamp the station knows cannot be bound (void, sold,
active for another batch, another product's code) gets a red lamp, a buzz and an `alert`
event instead, never a silent activation. With no synced data it activates and the hub
judges (the hub refuses and alerts)."""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, render_template, request

from station.kiosk.i18n import COOKIE, LANGUAGES, current_language, translator
from station.scanner import feedback
from station.kiosk.guard import same_origin_posts
from station.scanner.stampcache import StampCache, SyncError
from station.scanner.watch import CameraWatch
from tem import messages
from tem.stamp import StampURLError, parse_stamp_url

if TYPE_CHECKING:
    from station.runtime import Station

log = logging.getLogger(__name__)


class ActivationFlow:
    def __init__(self, station: Station):
        self.station = station
        self.cfg = station.cfg
        self.cache = StampCache(self.cfg.data_dir / "stamps.db")
        self.lamp, self.speaker = feedback.for_station(self.cfg)
        self.counts: dict[str, dict[str, int]] = {}  # lot -> activated / rejected / again
        self.recent: deque[dict[str, Any]] = deque(maxlen=20)
        self.paused = False
        self.message: tuple[str, dict[str, str]] | None = None  # a WORDS key and its values
        self._done: set[tuple[str, str]] = set()  # (serial, lot) activated by this station
        self._refused: set[tuple[str, str]] = set()  # (serial, lot) refused, alert already sent
        self._lock = threading.Lock()
        self.watch: CameraWatch | None = None
        if self.cfg.camera is not None:
            hosts = frozenset(self.cfg.accepted_hosts) or None
            self.watch = CameraWatch(self.cfg.camera, hosts, self.consider, hold_s=self.cfg.scan.hold_s)

    # -- Flow protocol ----------------------------------------------------------------------
    def start(self) -> None:
        if self.watch is not None:
            self.watch.start()

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        self.cache.close()

    def telemetry(self) -> dict[str, Any]:
        return {"decode_rate": self.watch.decode_rate() if self.watch else None}

    def handle(self, cmd: messages.Command) -> tuple[bool, str] | None:
        if cmd.name == "sync_stamps":
            try:
                return True, self.cache.apply_chunk(cmd.args)[1]
            except SyncError as exc:
                return False, str(exc)
        if cmd.name in ("pause", "resume"):
            self.paused = cmd.name == "pause"
            return True, f"{cmd.name}d"
        return None

    # -- the work ---------------------------------------------------------------------------
    def batch_counts(self) -> dict[str, int]:
        lot = self.cfg.product.lot if self.cfg.product else ""
        return self.counts.setdefault(lot, {"activated": 0, "rejected": 0, "again": 0})

    def consider(self, payload: str) -> str:
        """One newly seen stamp; returns what happened: activated, again, rejected or skipped."""
        with self._lock:
            product = self.cfg.product
            if self.paused or product is None:
                self.message = ("paused" if self.paused else "no_product_lot", {})
                return "skipped"
            try:
                ref = parse_stamp_url(payload, frozenset(self.cfg.accepted_hosts) or None)
            except StampURLError:
                return "skipped"  # decode() already validated; a changed host list can still refuse
            counts = self.batch_counts()
            if (ref.serial, product.lot) in self._done:
                counts["again"] += 1
                return "again"
            problem = self._problem(ref.serial, ref.gtin, product.gtin, product.lot)
            if problem:
                code, text, other_lot = problem
                self.lamp.show("red")
                self.lamp.buzz()
                self.speaker.play("bad")
                if (ref.serial, product.lot) in self._refused:
                    return "rejected"  # the same bad pack back in view: warn again, one alert is enough
                self._refused.add((ref.serial, product.lot))
                counts["rejected"] += 1
                self.station.record("alert", code=code, message=text[:300], serial=ref.serial)
                self._note(ref.serial, "rejected", "r_" + code, lot=other_lot or "")
                return "rejected"
            self.station.record("activated", serial=ref.serial, gtin=product.gtin, lot=product.lot)
            self.cache.mark(ref.serial, "active", product.gtin, product.lot)
            self._done.add((ref.serial, product.lot))
            counts["activated"] += 1
            self.lamp.show("green", hold_s=0.5)
            self._note(ref.serial, "activated", "activated_for", lot=product.lot)
            return "activated"

    def _problem(self, serial: str, url_gtin: str | None, gtin: str,
                 lot: str) -> tuple[str, str, str | None] | None:
        """(alert code, the operator's alert text, the stamp's other lot) when it must not be activated."""
        if url_gtin and url_gtin != gtin:
            return "wrong_product", f"stamp {serial} carries GTIN {url_gtin}, the line packs {gtin}", None
        known = self.cache.lookup(serial)
        if known is None:
            return None  # nothing synced about it: the hub judges
        if known.gtin and known.gtin != gtin:
            return "wrong_product", f"stamp {serial} belongs to GTIN {known.gtin}, the line packs {gtin}", None
        if known.state == "void":
            return "void_stamp", f"stamp {serial} is void ({known.void_reason or 'no reason'}): not activated", None
        if known.state == "sold":
            return "sold_stamp", f"stamp {serial} was already sold: not activated again", None
        if known.state == "active" and known.lot and known.lot != lot:
            return "other_batch", f"stamp {serial} is already active for batch {known.lot}, not {lot}", known.lot
        return None

    def _note(self, serial: str, result: str, key: str, **args: str) -> None:
        import datetime as dt
        self.message = (key, args)
        self.recent.appendleft({"serial": serial, "result": result, "key": key, "args": args,
                                "at": dt.datetime.now().strftime("%H:%M:%S")})

    def state(self, lang: str = "vi") -> dict[str, Any]:
        """What the page shows; messages in the worker's language."""
        t = translator(WORDS, lang)
        product = self.cfg.product
        recent = [{k: v for k, v in r.items() if k not in ("key", "args")} | {"text": t(r["key"], **r["args"])}
                  for r in self.recent]
        message = t(self.message[0], **self.message[1]) if self.message else ""
        return {"product": product.name if product else None, "lot": product.lot if product else None,
                "counts": self.batch_counts(), "lamp": self.lamp.colour, "message": message,
                "camera": self.watch.status if self.watch else "Không có camera",
                "camera_error": self.watch.error if self.watch else None, "paused": self.paused,
                "online": self.station.link.connected.is_set(), "cache": self.cache.status(),
                "recent": recent}

    def set_lot(self, lot: str) -> tuple[bool, str]:
        ok, text = self.station.handle(messages.Command(name="set_batch", args={"lot": lot}))
        return ok, text

    # -- the station page -------------------------------------------------------------------
    def blueprint(self) -> Blueprint:
        bp = Blueprint("activation", __name__, template_folder="templates")
        same_origin_posts(bp, self.station)

        def page(note: str = "", status: int = 200):  # type: ignore[no-untyped-def]
            code = current_language(self.cfg.kiosk.language if self.cfg.kiosk else "vi")
            return render_template("activation.html", s=self.state(code), note=note, lang=code,
                                   t=translator(WORDS, code)), status

        @bp.after_request
        def remember_language(response):  # type: ignore[no-untyped-def]
            if request.args.get("lang") in LANGUAGES:
                response.set_cookie(COOKIE, request.args["lang"], max_age=365 * 24 * 3600, samesite="Strict")
            return response

        @bp.get("/")
        def index():  # type: ignore[no-untyped-def]
            return page()

        @bp.get("/api/state")
        def api_state():  # type: ignore[no-untyped-def]
            return jsonify(self.state(current_language(self.cfg.kiosk.language if self.cfg.kiosk else "vi")))

        @bp.post("/batch")
        def batch():  # type: ignore[no-untyped-def]
            lot = (request.form.get("lot") or "").strip()
            ok, text = self.set_lot(lot) if lot else (False, "Chưa nhập mã lô")
            return page(text, 200 if ok else 400)

        return bp


WORDS = {
    "vi": {"title": "Trạm kích hoạt tem", "no_product": "Chưa chọn sản phẩm", "lot": "Lô",
           "activated": "Đã kích hoạt", "rejected": "Bị từ chối", "switch_lot": "Đổi lô", "new_lot": "Mã lô mới",
           "waiting_packs": "Đưa gói hàng qua camera", "paused": "Trạm đang tạm dừng",
           "no_product_lot": "Chưa chọn sản phẩm và lô", "activated_for": "Đã kích hoạt cho lô {lot}",
           "r_wrong_product": "Tem của sản phẩm khác: bỏ gói này ra, không kích hoạt",
           "r_void_stamp": "Tem đã bị hủy: bỏ gói này ra, dán tem mới",
           "r_sold_stamp": "Tem đã bán trước đó: bỏ gói này ra, dán tem mới",
           "r_other_batch": "Tem đã kích hoạt cho lô {lot}: bỏ gói này ra"},
    "en": {"title": "Stamp activation station", "no_product": "No product chosen", "lot": "Lot",
           "activated": "Activated", "rejected": "Refused", "switch_lot": "Switch lot", "new_lot": "New lot code",
           "waiting_packs": "Pass packs under the camera", "paused": "Station paused",
           "no_product_lot": "No product and lot chosen", "activated_for": "Activated for lot {lot}",
           "r_wrong_product": "Another product's stamp: take this pack off, not activated",
           "r_void_stamp": "Cancelled stamp: take this pack off, apply a new stamp",
           "r_sold_stamp": "Stamp already sold: take this pack off, apply a new stamp",
           "r_other_batch": "Stamp already active for lot {lot}: take this pack off"},
}
