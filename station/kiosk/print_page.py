"""The print station's local page: current product and lot, the big PRINT button, today's
count, what the printer needs (in Vietnamese), the hub link, the question about a label
nobody can vouch for, and switching lot."""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request

from station.kiosk.guard import same_origin_posts
from station.kiosk.i18n import COOKIE, LANGUAGES, current_language, translator
from station.printer.status import MESSAGES_VI
from tem import messages

if TYPE_CHECKING:
    from station.printing import PrintFlow

WORDS = {
    "vi": {
        "title": "Trạm in tem", "print": "IN TEM", "today": "Đã in hôm nay", "queue": "Đang chờ in",
        "codes_left": "Mã tem còn lại", "lot": "Lô", "switch_lot": "Đổi lô", "new_lot": "Mã lô mới",
        "printer": "Máy in", "link": "Kết nối", "errors": "Lỗi gần đây",
        "question": "Nhãn này đã in ra chưa?", "reprint": "Chưa ra: in lại", "printed": "Đã ra: giữ nhãn",
        "void": "Hỏng: hủy tem", "why": "Lý do", "no_product": "Chưa chọn sản phẩm",
        "paused": "Trạm đang tạm dừng", "printing": "{n} nhãn đang chờ in",
        "bad_lot": "Mã lô không hợp lệ",
    },
    "en": {
        "title": "Stamp print station", "print": "PRINT", "today": "Printed today", "queue": "Waiting to print",
        "codes_left": "Stamp codes left", "lot": "Lot", "switch_lot": "Switch lot", "new_lot": "New lot code",
        "printer": "Printer", "link": "Link", "errors": "Recent errors",
        "question": "Did this label come out?", "reprint": "No: print it again", "printed": "Yes: keep it",
        "void": "Spoiled: void the stamp", "why": "Why", "no_product": "No product selected",
        "paused": "The station is paused", "printing": "{n} labels waiting to print",
        "bad_lot": "That lot code is not valid",
    },
}
# The printer's instruction in English; Vietnamese comes from the driver (PrinterStatus.message).
STATE_EN = {
    "ready": "Printer ready", "paper_low": "Paper running low: get a new roll ready",
    "no_paper": "Out of labels: load a new roll", "cover_open": "Printer cover open: close it",
    "cutter_jam": "Cutter jammed: switch the printer off, clear the label, switch on",
    "wrong_media": "Wrong labels loaded: load the right roll",
    "feed_error": "Labels not feeding: open the cover and reseat the roll",
    "offline": "Printer not answering: check the cable and power", "busy": "Printer busy: wait a moment",
    "error": "Printer error: switch it off and on again",
    "unknown": "Printer status unknown: check whether the label came out",
}
# The flow keeps its errors in Vietnamese (what the worker reads by default); the English page shows these.
ERRORS_EN = {
    **{MESSAGES_VI[state]: text for state, text in STATE_EN.items() if state in MESSAGES_VI},
    "Trạm đang tạm dừng": "The station is paused",
    "Chưa chọn sản phẩm và lô": "No product and lot selected",
    "Hết mã tem: chờ trung tâm cấp thêm": "Out of stamp codes: wait for the hub to send more",
    "Chưa có nhãn nào để in lại": "No label printed yet to print again",
    "Lỗi phần mềm khi in: xem nhật ký trạm": "Software error while printing: see the station log",
}
_UNCONFIRMED = re.compile(r"^Nhãn (\S+) chưa rõ đã in ra chưa: trả lời trên màn hình$")


def error_text(text: str, lang: str) -> str:
    if lang == "vi":
        return text
    found = _UNCONFIRMED.match(text)
    if found:
        return f"Label {found.group(1)} may or may not have printed: answer on the screen"
    return ERRORS_EN.get(text, text)


def make_blueprint(flow: PrintFlow) -> Blueprint:
    bp = Blueprint("print_station", __name__)
    station = flow.station

    def lang() -> str:
        kiosk = station.cfg.kiosk
        return current_language(kiosk.language if kiosk else "vi")

    same_origin_posts(bp, station)

    @bp.after_request
    def remember_language(response):  # type: ignore[no-untyped-def]
        wanted = request.args.get("lang")
        if wanted in LANGUAGES:
            response.set_cookie(COOKIE, wanted, max_age=365 * 24 * 3600, samesite="Strict")
        return response

    def context() -> dict[str, Any]:
        code = lang()
        status = flow.current_status()
        product = station.cfg.product
        queued = flow.codebook.count("queued", "sending")
        link_up = station.link.connected.is_set()
        if code == "vi":
            instruction = status.message
        else:
            instruction = STATE_EN.get(status.state, STATE_EN["error"])
        if (not status.ready and status.state != "unknown") or flow.unconfirmed():
            verdict_state = "error"
        elif status.state == "unknown":
            verdict_state = "busy"
        else:
            verdict_state = "ok"
        return {
            "lang": code, "t": translator(WORDS, code), "flow": flow, "product": product, "status": status,
            "instruction": instruction, "verdict_state": verdict_state, "queued": queued,
            "today": flow.printed_today(), "codes_left": flow.codebook.remaining(),
            "link_up": link_up, "backlog": station.outbox.backlog(), "unconfirmed": flow.unconfirmed(),
            "errors": [(time.strftime("%H:%M:%S", time.localtime(at)), error_text(text, code))
                       for at, text in reversed(flow.errors)],
            "paused": flow.paused, "refresh_url": "/live", "refresh_ms": 1500,
        }

    @bp.get("/")
    def page():  # type: ignore[no-untyped-def]
        return render_template("print.html", **context())

    @bp.get("/live")
    def live():  # type: ignore[no-untyped-def]
        return render_template("print_live.html", **context())

    @bp.get("/state.json")
    def state():  # type: ignore[no-untyped-def]
        c = context()
        return jsonify(printer=c["status"].state, ready=c["status"].ready, instruction=c["instruction"],
                       today=c["today"], queue=c["queued"], codes_left=c["codes_left"], online=c["link_up"],
                       backlog=c["backlog"], lot=c["product"].lot if c["product"] else None,
                       unconfirmed=[{"job": j.id, "serial": j.serial} for j in c["unconfirmed"]],
                       errors=[text for _, text in c["errors"]])

    @bp.post("/print")
    def press():  # type: ignore[no-untyped-def]
        flow.press()
        return redirect("/", 303)

    @bp.post("/decide/<int:job_id>")
    def decide(job_id: int):  # type: ignore[no-untyped-def]
        if not flow.decide(job_id, request.form.get("action", "")):
            abort(409)
        return redirect("/", 303)

    @bp.post("/lot")
    def switch_lot():  # type: ignore[no-untyped-def]
        lot = request.form.get("lot", "").strip()
        ok, _ = station.handle(messages.Command(name="set_batch", args={"lot": lot})) if lot else (False, "")
        if not ok:
            flow._error(translator(WORDS, lang())("bad_lot") + (f": {lot}" if lot else ""))
        return redirect("/", 303)

    return bp
