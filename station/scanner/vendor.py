"""The market-stall (vendor) flow: a camera, a handheld scanner or the page's scan box reads
a pack's code → a plain verdict screen in Vietnamese with colour and sound, judged from the
stamp states synced for the stall's area → a `checked` event with the verdict; the vendor
may record the sale (`sold`). Offline it says so instead of guessing."""
from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, render_template_string, request, send_file

from station.scanner.capture import open_source
from station.scanner.feedback import Lamp, Speaker
from station.scanner.handheld import HidScanner, SerialScanner
from station.scanner.pages import same_origin_posts
from station.scanner.stampcache import StampCache, SyncError
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
        self.lamp = Lamp(self.cfg.gpio.led_pin if self.cfg.gpio else None,
                         self.cfg.gpio.buzzer_pin if self.cfg.gpio else None)
        self.speaker = Speaker(self.cfg.data_dir / "sounds", self.cfg.scan.sound)
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
                return True, self.cache.apply_chunk(cmd.args)[1]
            except SyncError as exc:
                return False, str(exc)
        return None

    # -- the work ---------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.station.link.connected.is_set()

    def scan(self, text: str, via: str = "page") -> Verdict:
        """Judge one code, tell the vendor, record the check."""
        with self._lock:
            verdict = judge(text, self.cache, self.online, self.hosts)
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
        bp = Blueprint("vendor", __name__)
        same_origin_posts(bp, self.station)

        def page(note: str = "", status: int = 200):  # type: ignore[no-untyped-def]
            return render_template_string(PAGE, s=self.state(), note=note), status

        @bp.get("/")
        def index():  # type: ignore[no-untyped-def]
            return page()

        @bp.get("/api/state")
        def api_state():  # type: ignore[no-untyped-def]
            return jsonify(self.state())

        @bp.post("/scan")
        def scan():  # type: ignore[no-untyped-def]
            text = (request.form.get("code") or (request.get_json(silent=True) or {}).get("code") or "").strip()
            if not text:
                return page("Chưa có mã", 400)
            verdict = self.scan(text[:1000], "page")
            if request.is_json:
                return jsonify(verdict.to_json())
            return page()

        @bp.post("/sold")
        def sold():  # type: ignore[no-untyped-def]
            ok, text = self.sell(request.form.get("serial", ""))
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


PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Kiểm tra tem</title>
<style>
body{font-family:"DejaVu Sans",sans-serif;margin:0;background:#f4f4f4;color:#111}
#link{padding:.4rem 1rem;font-size:1.1rem;color:#fff}#link.online{background:#234}#link.offline{background:#555}
#verdict{color:#fff;padding:1.5rem 1rem;min-height:10rem}
#verdict.green{background:#146c2e}#verdict.red{background:#b00020}#verdict.amber{background:#8a4b00}
#verdict.grey{background:#555}#verdict.idle{background:#ddd;color:#111}
#verdict h1{font-size:2.6rem;margin:0 0 .5rem}#verdict p{font-size:1.3rem;margin:.3rem 0}
#facts{font-size:1.4rem}#sell button{font-size:1.6rem;padding:.8rem 1.6rem;margin:1rem}
form.scan{padding:0 1rem}form.scan input{font-size:1.1rem;width:70%}
#recent{font-size:1.1rem}#recent li.green{color:#146c2e}#recent li.red{color:#b00020}
#recent li.amber{color:#8a4b00}#recent li.grey{color:#555}.note{padding:0 1rem;font-size:1.2rem}
</style></head><body>
<div id="link" class="{{ 'online' if s.online else 'offline' }}">{{ 'Đang kết nối trung tâm' if s.online
 else 'Ngoại tuyến — dùng dữ liệu đã đồng bộ' }}{% if s.cache.synced_at %} · đồng bộ {{ s.cache.synced_at[:16]
 | replace('T', ' ') }}{% endif %}</div>
{% set v = s.last %}
<section id="verdict" class="{{ v.colour if v else 'idle' }}" data-verdict="{{ v.kind if v else '' }}"
 data-id="{{ v.id if v else 0 }}">
<h1 id="headline">{{ v.headline if v else 'Đưa mã tem vào camera hoặc máy quét' }}</h1>
<p id="detail">{{ v.detail if v else '' }}</p>
<div id="facts">{% if v and v.product %}<p>Sản phẩm: <b>{{ v.product }}</b></p>{% endif %}
{% if v and v.producer %}<p>Nhà sản xuất: {{ v.producer }}</p>{% endif %}
{% if v and v.lot %}<p>Lô: {{ v.lot }}</p>{% endif %}
{% if v and v.serial %}<p>Mã tem: {{ v.serial }}</p>{% endif %}</div>
</section>
<form id="sell" method="post" action="sold" {% if not v or v.kind != 'genuine' or v.sold %}hidden{% endif %}>
<input type="hidden" name="serial" value="{{ v.serial if v else '' }}"><button>Ghi bán</button></form>
{% if note %}<p class="note" id="note">{{ note }}</p>{% endif %}
<form class="scan" method="post" action="scan"><label>Quét mã <input id="code" name="code" autofocus
 autocomplete="off"></label> <button>Kiểm tra</button></form>
<p class="note">{{ s.inputs | join(' · ') }}</p>
<h2 class="note">Lượt quét gần đây</h2>
<ol id="recent">{% for r in s.recent %}<li class="{{ r.colour }}">{{ r.at }} — {{ r.headline }}
{% if r.product %}({{ r.product }}){% endif %}{% if r.sold %} · đã bán{% endif %}</li>{% endfor %}</ol>
<script>
const sound = {{ 'true' if s.sound else 'false' }};
let shown = {{ v.id if v else 0 }};
function esc(t) { const d = document.createElement("div"); d.textContent = t || ""; return d.innerHTML; }
function render(s) {
  const link = document.getElementById("link");
  link.className = s.online ? "online" : "offline";
  link.textContent = (s.online ? "Đang kết nối trung tâm" : "Ngoại tuyến — dùng dữ liệu đã đồng bộ")
    + (s.cache.synced_at ? " · đồng bộ " + s.cache.synced_at.slice(0, 16).replace("T", " ") : "");
  const v = s.last; if (!v) return;
  const box = document.getElementById("verdict");
  box.className = v.colour; box.dataset.verdict = v.kind; box.dataset.id = v.id;
  document.getElementById("headline").textContent = v.headline;
  document.getElementById("detail").textContent = v.detail;
  document.getElementById("facts").innerHTML =
    (v.product ? "<p>Sản phẩm: <b>" + esc(v.product) + "</b></p>" : "") +
    (v.producer ? "<p>Nhà sản xuất: " + esc(v.producer) + "</p>" : "") +
    (v.lot ? "<p>Lô: " + esc(v.lot) + "</p>" : "") + (v.serial ? "<p>Mã tem: " + esc(v.serial) + "</p>" : "");
  const sell = document.getElementById("sell");
  sell.hidden = v.kind !== "genuine" || v.sold; sell.serial.value = v.serial || "";
  document.getElementById("recent").innerHTML = s.recent.map(r => '<li class="' + r.colour + '">' + esc(r.at)
    + " — " + esc(r.headline) + (r.product ? " (" + esc(r.product) + ")" : "") + (r.sold ? " · đã bán" : "")
    + "</li>").join("");
  if (v.id !== shown) { shown = v.id; if (sound) new Audio("sound/" + v.sound + ".wav").play().catch(() => {}); }
}
async function poll() { try { render(await (await fetch("api/state")).json()); } catch (e) {} }
setInterval(poll, 700);
document.querySelector("form.scan").addEventListener("submit", async (e) => {
  e.preventDefault(); const box = document.getElementById("code"); const code = box.value.trim(); box.value = "";
  if (!code) return;
  await fetch("scan", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({code})});
  poll(); box.focus();
});
document.getElementById("sell").addEventListener("submit", async (e) => {
  e.preventDefault();
  await fetch("sold", {method: "POST", headers: {"Accept": "application/json"}, body: new FormData(e.target)});
  poll();
});
</script></body></html>"""
