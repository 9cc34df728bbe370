"""The market-stall (vendor) flow: a camera, a handheld scanner or the page's scan box reads
a pack's code → a plain verdict screen in Vietnamese with colour and sound, judged from the
stamp states synced for the stall's area → a `checked` event with the verdict; the vendor
may record the sale (`sold`). A stamp the synced data does not know, or knows only as not
yet active, is put to the hub first when the link is up (station/scanner/ask.py). Offline,
or when the hub does not answer in time, it says so instead of guessing."""
from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, render_template, request, send_file

from station.kiosk.i18n import COOKIE, LANGUAGES, current_language, translator
from station.scanner.ask import HubQuestions
from station.scanner.capture import open_source
from station.scanner import feedback
from station.scanner.handheld import HidScanner, SerialScanner
from station.kiosk.guard import same_origin_posts
from station.scanner.stampcache import StampCache, SyncError, local_time
from station.scanner.verdict import Verdict, judge
from station.scanner.watch import CameraWatch, follow_opener
from tem import messages

if TYPE_CHECKING:
    from station.runtime import Station

log = logging.getLogger(__name__)


class VendorFlow:
    def __init__(self, station: Station):
        self.station = station
        self.cfg = station.cfg
        self.cache = StampCache(self.cfg.data_dir / "stamps.db")
        self.questions = HubQuestions(station)
        self.lamp, self.speaker = feedback.for_station(self.cfg)
        self.recent: deque[dict[str, Any]] = deque(maxlen=10)
        self.last: dict[str, Any] | None = None
        self.checked = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.hosts = frozenset(self.cfg.accepted_hosts) or None
        self.watch: CameraWatch | None = None
        cam = self.cfg.camera
        if cam is not None:
            # A replayed folder that keeps filling (the demo) is followed like a live camera.
            follow = cam.source == "replay" and not cam.loop and not Path(cam.device).is_file()
            self.watch = CameraWatch(cam, self.hosts, lambda p: self.scan(p, "camera"), hold_s=self.cfg.scan.hold_s,
                                     opener=follow_opener if follow else open_source)
        self.serial = (SerialScanner(self.cfg.scan.serial_port, self.cfg.scan.serial_baud,
                                     lambda t: self.scan(t, "scanner"))
                       if self.cfg.scan.serial_port else None)
        self.hid = HidScanner(self.cfg.scan.hid_device, lambda t: self.scan(t, "scanner")) \
            if self.cfg.scan.hid_device else None

    # -- Flow protocol ----------------------------------------------------------------------
    def start(self) -> None:
        for part in (self.watch, self.serial, self.hid):
            if part is not None:
                part.start()

    def stop(self) -> None:
        for part in (self.watch, self.serial, self.hid):
            if part is not None:
                part.stop()
        self.cache.close()

    def telemetry(self) -> dict[str, Any]:
        return {"decode_rate": self.watch.decode_rate() if self.watch else None}

    def handle(self, cmd: messages.Command) -> tuple[bool, str] | None:
        if cmd.name == "sync_stamps":
            try:
                text = self.cache.apply_chunk(cmd.args)[1]
            except SyncError as exc:
                return False, str(exc)
            self.questions.answered(cmd.args)
            return True, text
        return None

    # -- the work ---------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.station.link.connected.is_set()

    def scan(self, text: str, via: str = "page") -> Verdict:
        """Judge one code, tell the vendor, record the check."""
        with self._lock:
            online = self.online
            verdict = judge(text, self.cache, online, self.hosts)
            if online and verdict.serial and verdict.kind in ("unknown", "not_active"):
                hub = self.questions.ask(verdict.serial, verdict.gtin)
                verdict = judge(text, self.cache, online, self.hosts, hub=hub)
            if verdict.serial:
                self.station.record("checked", serial=verdict.serial, gtin=verdict.gtin, verdict=verdict.kind)
            self.checked += 1
            self.lamp.show(verdict.colour)
            if verdict.colour == "red":
                self.lamp.buzz()
            self.speaker.play(verdict.sound)
            entry = verdict.to_json() | {"id": next(self._ids), "via": via, "sold": False}
            self.last = entry
            self.recent.appendleft(entry)
            return verdict

    def sell(self, serial: str) -> tuple[bool, str]:
        """Record the sale of the pack just checked; only a stamp shown as genuine can be sold."""
        with self._lock:
            entry = next((e for e in self.recent if e["serial"] == serial), None)
            if entry is None or entry["kind"] != "genuine":
                return False, "Chỉ ghi bán được hàng vừa quét là chính hãng."
            if entry["sold"]:
                return True, "Đã ghi bán."
            self.station.record("sold", serial=serial, gtin=entry["gtin"])
            self.cache.mark(serial, "sold")
            entry["sold"] = True
            return True, "Đã ghi bán."

    def state(self) -> dict[str, Any]:
        inputs = []
        for part in (self.watch, self.serial, self.hid):
            if part is not None and part.status:
                inputs.append(part.status)
        return {"online": self.online, "last": self.last, "recent": list(self.recent), "cache": self.cache.status(),
                "inputs": inputs, "sound": self.cfg.scan.sound, "lamp": self.lamp.colour, "place": self.cfg.place}

    # -- the station page -------------------------------------------------------------------
    def blueprint(self) -> Blueprint:
        bp = Blueprint("vendor", __name__, template_folder="templates")
        same_origin_posts(bp, self.station)

        def lang() -> str:
            return current_language(self.cfg.kiosk.language if self.cfg.kiosk else "vi")

        @bp.after_request
        def remember_language(response):  # type: ignore[no-untyped-def]
            if request.args.get("lang") in LANGUAGES:
                response.set_cookie(COOKIE, request.args["lang"], max_age=365 * 24 * 3600, samesite="Strict")
            return response

        def localized_state() -> dict[str, Any]:
            code = lang()
            t = translator(WORDS, code)
            state = self.state()
            state["last"] = localize(state["last"], code)
            state["recent"] = [localize(e, code) for e in state["recent"]]
            synced = state["cache"]["synced_at"]
            state["link_text"] = t("online" if state["online"] else "offline_synced") + (
                f" · {t('synced')} {local_time(synced)}" if synced else f" · {t('never_synced')}")
            return state | {"lang": code, "t": t, "words": {k: t(k) for k in ("product", "producer", "lot",
                                                                              "serial", "sold")}}

        def page(note: str = "", status: int = 200):  # type: ignore[no-untyped-def]
            return render_template("vendor.html", note=note, **localized_state()), status

        @bp.get("/")
        def index():  # type: ignore[no-untyped-def]
            return page()

        @bp.get("/api/state")
        def api_state():  # type: ignore[no-untyped-def]
            state = localized_state()
            for key in ("t", "words", "lang"):
                state.pop(key)
            return jsonify(state)

        @bp.post("/scan")
        def scan():  # type: ignore[no-untyped-def]
            text = (request.form.get("code") or (request.get_json(silent=True) or {}).get("code") or "").strip()
            if not text:
                return page(translator(WORDS, lang())("no_code"), 400)
            verdict = self.scan(text[:1000], "page")
            if request.is_json:
                return jsonify(localize(verdict.to_json(), lang()))
            return page()

        @bp.post("/sold")
        def sold():  # type: ignore[no-untyped-def]
            ok, text = self.sell(request.form.get("serial", ""))
            text = translator(WORDS, lang())("sold_ok" if ok else "sold_refused")
            if request.accept_mimetypes.best == "application/json":
                return jsonify({"ok": ok, "message": text}), (200 if ok else 409)
            return page(text, 200 if ok else 409)

        @bp.get("/sound/<name>.wav")
        def sound(name: str):  # type: ignore[no-untyped-def]
            path = self.speaker.files.get(name)
            if path is None:
                return "", 404
            return send_file(path, mimetype="audio/wav", max_age=3600)

        return bp


WORDS = {
    "vi": {"title": "Kiểm tra tem", "idle": "Đưa mã tem vào camera hoặc máy quét", "product": "Sản phẩm",
           "producer": "Nhà sản xuất", "lot": "Lô", "serial": "Mã tem", "sell": "Ghi bán", "sold": "đã bán",
           "scan": "Quét mã", "check": "Kiểm tra", "recent": "Lượt quét gần đây", "no_code": "Chưa có mã",
           "online": "Đang kết nối trung tâm", "offline_synced": "Ngoại tuyến — dùng dữ liệu đã đồng bộ",
           "synced": "đồng bộ", "never_synced": "chưa đồng bộ", "sold_ok": "Đã ghi bán.",
           "sold_refused": "Chỉ ghi bán được hàng vừa quét là chính hãng."},
    "en": {"title": "Stamp check", "idle": "Hold the stamp to the camera or scanner", "product": "Product",
           "producer": "Producer", "lot": "Lot", "serial": "Stamp", "sell": "Record sale", "sold": "sold",
           "scan": "Scan code", "check": "Check", "recent": "Recent scans", "no_code": "No code entered",
           "online": "Connected to the hub", "offline_synced": "Offline — using synced data",
           "synced": "synced", "never_synced": "never synced", "sold_ok": "Sale recorded.",
           "sold_refused": "Only a pack just shown as genuine can be recorded as sold."},
}

# English verdict words by kind; Vietnamese ones come with the verdict itself.
VERDICTS_EN = {
    "genuine": ("Genuine product", ""),
    "not_active": ("Not activated", "The stamp was never bound to a batch. Ask the supplier."),
    "sold": ("Already sold", "A real stamp already recorded as sold: the packaging may be reused."),
    "void": ("Stamp cancelled", "Reason: {reason}. Do not sell this product."),
    "wrong_product": ("Cannot be verified", "The stamp belongs to another product: it may be a copy."),
    "forged": ("Cannot be verified", "This code is not a valid Tem stamp."),
}

UNKNOWN_EN = {
    "online": ("Cannot be verified at this stall",
               "Not in this stall's data; sent to the hub to check. Do not treat it as genuine."),
    "offline": ("Cannot be verified offline", "Offline, and not in the synced data. Do not treat it as genuine."),
    "silent": ("Cannot be verified offline",
               "The hub did not answer in time, and the stamp is not in the synced data. "
               "Do not treat it as genuine."),
}


def localize(entry: dict[str, Any] | None, lang: str) -> dict[str, Any] | None:
    if entry is None or lang == "vi":
        return entry
    if entry["kind"] == "unknown":
        headline, detail = UNKNOWN_EN["silent" if entry.get("hub") == "silent" else
                                      "online" if entry["online"] else "offline"]
    elif entry["kind"] == "forged" and entry.get("hub") == "unknown":
        headline, detail = "Cannot be verified", "The hub never issued this stamp: it may be fake. Do not sell it."
    else:
        headline, detail = VERDICTS_EN[entry["kind"]]
        detail = detail.format(reason=(entry.get("reason") or "other").replace("_", " "))
    return entry | {"headline": headline, "detail": detail}
