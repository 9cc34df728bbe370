"""The print flow: one press → a job in the print queue (SQLite) → label → printer →
`printed` event (and `activated` for the current lot when the station is set up so).

A worker thread prints the queue in order. A printer that cannot print (no paper,
cover open, unplugged) holds the queue: the job waits, the status is asked again with
backoff, and printing resumes by itself once the printer is ready. A job whose outcome
nobody knows (the station died mid-job, the printer fell silent) is never printed again
silently: it waits for a person's decision (reprint / it printed / void)."""
from __future__ import annotations

import collections
import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from station.codebook import Codebook, Job
from station.printer import LabelData, PrinterError, PrinterStatus, make_driver, render
from tem import messages
from tem.stamp import StampRef

if TYPE_CHECKING:
    from flask import Blueprint

    from station.runtime import Station

log = logging.getLogger(__name__)

BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0, 5.0)  # waits between status checks while the printer is not ready
IDLE_STATUS_S = 3.0  # how often an idle station asks the printer how it is
DECISIONS = ("reprint", "printed", "void")

# The lamp and buzzer follow one word: ok, error (the printer or a job needs a person), offline (no hub).
Indicator = Callable[[str, str], None]  # (kind, word): ("lamp", "error") or ("beep", "printed")


class PrintFlow:
    def __init__(self, station: Station):
        self.station = station
        self.cfg = station.cfg
        assert self.cfg.printer is not None
        self.codebook = Codebook(self.cfg.data_dir / "codes.db")
        self.printer = make_driver(self.cfg.printer, self.cfg.data_dir)
        self.record = station.record
        self.paused = False
        self.last_error = ""
        self.errors: collections.deque[tuple[float, str]] = collections.deque(maxlen=8)
        self.status: PrinterStatus = PrinterStatus.of("unknown", detail="not asked yet")
        self.status_at = 0.0
        self.indicators: list[Indicator] = []
        self.lamp = ""
        self.io = None  # station.gpio.StationIO when the config has [gpio]
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._low_warned = False
        self._alerted_state = ""
        self._worker: threading.Thread | None = None
        self._recover()

    # -- restart --------------------------------------------------------------------------
    def _recover(self) -> None:
        """Finish what a killed station left half done, never by printing a label again unasked."""
        for job in self.codebook.jobs("printed", "voiding"):
            self._report(job)
        for job in self.codebook.jobs("sending"):
            ask = getattr(self.printer, "job_outcome", None)
            outcome = ask(self._job_name(job)) if ask else None
            if outcome is True:  # the printer (or its output) says it came out
                self.codebook.set_state(job.id, "printed", "confirmed by the printer after a restart")
                self._report(self.codebook.job(job.id))
            elif outcome is False:  # certainly nothing came out: it is still the worker's job to print
                self.codebook.set_state(job.id, "queued", "not printed before the restart")
            else:
                self._unconfirmed(job, "the station stopped while this label was being printed")

    # -- Flow protocol ----------------------------------------------------------------------
    def start(self) -> None:
        if self.cfg.gpio is not None and self.io is None:
            from station.gpio import StationIO
            self.io = StationIO(self.cfg.gpio, on_press=self.press, on_long_press=self.reprint_last)
            self.indicators.append(self.io.indicate)
        self._worker = threading.Thread(target=self._work, name="print-queue", daemon=True)
        self._worker.start()
        if self.cfg.printing.simulate_every_s:
            threading.Thread(target=self._simulate, name="simulate-press", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=10)
        if self.io is not None:
            self.io.close()
        self.printer.close()

    def telemetry(self) -> dict[str, Any]:
        status = self.current_status()
        return {"printer": status.state, "paper": status.paper, "codes_left": self.codebook.remaining(),
                "queue": self.codebook.count("queued", "sending")}

    def handle(self, cmd: messages.Command) -> tuple[bool, str] | None:
        if cmd.name == "add_codes":
            added = self.codebook.add([str(s) for s in cmd.args["serials"]], cmd.args.get("gtin"))
            if added:
                self._wake.set()
            return True, f"{added} codes added"
        if cmd.name in ("pause", "resume"):
            self.paused = cmd.name == "pause"
            self._wake.set()
            return True, f"{cmd.name}d"
        if cmd.name == "test_print":
            job = self.press_job()
            if job is None:
                return False, self.last_error
            done = self.wait(job.id, timeout=float(cmd.args.get("timeout", 30)))
            return (True, f"printed {job.serial}") if done.state == "done" else (
                False, f"{job.serial} is {done.state}: {self.last_error}")
        if cmd.name == "reprint":
            serial = str(cmd.args["serial"]).upper()
            done = [j for j in self.codebook.find(serial) if j.state == "done"]
            if not done:
                return False, f"{serial} was never printed on this station"
            job = self.codebook.enqueue_reprint(done[-1])
            self._wake.set()
            return True, f"reprint of {serial} queued (job {job.id})"
        if cmd.name == "void":
            self.codebook.void_code(str(cmd.args["serial"]).upper())
            return None  # the station records the `voided` event
        return None

    def blueprint(self) -> Blueprint:
        from station.kiosk.print_page import make_blueprint
        return make_blueprint(self)

    # -- pressing ---------------------------------------------------------------------------
    def press(self) -> str | None:
        """Queue the next stamp; returns its serial, or None with `last_error` set."""
        job = self.press_job()
        return job.serial if job else None

    def press_job(self) -> Job | None:
        with self._lock:
            product = self.cfg.product
            printer = self.cfg.printer
            assert printer is not None
            if self.paused:
                return self._refuse("Trạm đang tạm dừng")
            if product is None:
                return self._refuse("Chưa chọn sản phẩm và lô")
            label = {"host": self.cfg.hub_host, "product": product.name, "producer": product.producer,
                     "lot": product.lot, "packed_on": product.packed_on or dt.date.today().isoformat()}
            job = self.codebook.enqueue(product.gtin, label, printer.template, self.cfg.printing.activate_on_print)
            if job is None:
                self._warn_low(0)
                return self._refuse("Hết mã tem: chờ trung tâm cấp thêm")
            self._warn_low(self.codebook.remaining())
        self._wake.set()
        return job

    def reprint_last(self) -> str | None:
        """Long press: print the last label again, recorded as a reprint."""
        last = self.codebook.last_printed()
        if last is None:
            self._refuse("Chưa có nhãn nào để in lại")
            return None
        job = self.codebook.enqueue_reprint(last)
        self._wake.set()
        return job.serial

    def decide(self, job_id: int, action: str) -> bool:
        """A person answers "did this label come out?" for an unconfirmed job."""
        job = self.codebook.job(job_id)
        if job is None or job.state != "unconfirmed" or action not in DECISIONS:
            return False
        if action == "reprint":
            self.codebook.enqueue_reprint(job, replaces=True)
            self._wake.set()
        elif action == "printed":
            if not self.codebook.set_state(job.id, "printed", "a person saw it printed", only_from=("unconfirmed",)):
                return False
            self._report(self.codebook.job(job.id))
        else:
            if not self.codebook.set_state(job.id, "voiding", "voided by a person: misprint",
                                           only_from=("unconfirmed",)):
                return False
            self._report(self.codebook.job(job.id))
        self._update_lamp()
        return True

    def wait(self, job_id: int, timeout: float = 30.0) -> Job:
        """The job once it left the queue (or as it is when the time runs out)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.codebook.job(job_id)
            assert job is not None
            if job.state not in ("queued", "sending", "printed") or time.monotonic() > deadline:
                return job
            time.sleep(0.02)

    def unconfirmed(self) -> list[Job]:
        return self.codebook.jobs("unconfirmed")

    def printed_today(self) -> int:
        midnight = dt.datetime.combine(dt.date.today(), dt.time()).timestamp()
        return self.codebook.printed_since(midnight)

    def current_status(self, max_age: float = 5.0) -> PrinterStatus:
        if time.monotonic() - self.status_at > max_age and (self._worker is None or not self._worker.is_alive()):
            self._set_status(self.printer.status())
        return self.status

    # -- the queue worker ---------------------------------------------------------------------
    def _work(self) -> None:
        self._set_status(self.printer.status())
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # the worker must outlive a bug in one job
                log.exception("print queue")
                self._error("Lỗi phần mềm khi in: xem nhật ký trạm")
                self._stop.wait(1.0)

    def _step(self) -> None:
        self._wake.clear()
        job = None if self.paused else self.codebook.next_queued()
        if job is None:
            if not self._wake.wait(IDLE_STATUS_S) and not self._stop.is_set():
                self._set_status(self.printer.status())
            self._update_lamp()
            return
        if not self._print(job):
            self._wait_ready()

    def _print(self, job: Job) -> bool:
        """Print one job; False when the printer could not take it (the job stays queued)."""
        printer = self.cfg.printer
        assert printer is not None
        label = job.label
        image = render(job.template or printer.template, LabelData(
            qr_text=StampRef(job.serial, job.gtin).qr_text(label.get("host", self.cfg.hub_host)), serial=job.serial,
            product=label.get("product", ""), producer=label.get("producer", ""), lot=label.get("lot", ""),
            packed_on=label.get("packed_on", "")), printer.dpi)
        # Committed before the first byte leaves: after a crash this job is a question, not a reprint.
        self.codebook.set_state(job.id, "sending")
        try:
            self.printer.print_label(image, name=self._job_name(job))
        except PrinterError as exc:
            if exc.sent:
                self._unconfirmed(job, exc.status.detail or exc.status.message)
                self._set_status(exc.status)
                return True
            self.codebook.set_state(job.id, "queued", exc.status.message, only_from=("sending",))
            self._error(exc.status.message)
            self._set_status(exc.status)
            return False
        except Exception as exc:  # not the driver contract: whether anything was sent is unknown
            log.exception("printer driver failed")
            self._unconfirmed(job, f"driver error: {exc}")
            return True
        self.codebook.set_state(job.id, "printed")
        self._report(self.codebook.job(job.id))
        self._set_status(self.status if self.status.ready else PrinterStatus.of("ready", paper="ok"))
        self.last_error = ""
        self._beep("printed")
        return True

    def _wait_ready(self) -> None:
        """Ask the printer again, less and less often, until it can print (or the station stops)."""
        for attempt in range(10**9):
            if self._stop.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]):
                return
            status = self.printer.status()
            self._set_status(status)
            if status.ready or self.paused:
                return

    # -- recording --------------------------------------------------------------------------
    def _report(self, job: Job | None) -> None:
        """Record a finished job's events (with the ids chosen when it was made), then close it."""
        if job is None:
            return
        ids = job.event_ids()
        lot = job.label.get("lot") or None
        if job.state == "printed":
            self._record_once("printed", ids["printed"], serial=job.serial, gtin=job.gtin, lot=lot,
                              template=job.template, reprint=job.reprint)
            if job.activate and lot and not job.reprint:
                self._record_once("activated", ids["activated"], serial=job.serial, gtin=job.gtin, lot=lot)
            self.codebook.set_state(job.id, "done", job.note, only_from=("printed",))
        elif job.state == "voiding":
            self._record_once("voided", ids["voided"], serial=job.serial, gtin=job.gtin, reason="misprint",
                              note=(job.note or None) and job.note[:200])
            self.codebook.set_state(job.id, "voided", job.note, only_from=("voiding",))

    def _record_once(self, event_type: str, event_id: str, **fields: Any) -> None:
        try:
            # The outbox builds the event from these fields; an `id` given here is the one it keeps.
            self.record(event_type, id=event_id, **fields)
        except sqlite3.IntegrityError:
            pass  # recorded before the restart and still waiting in the outbox

    def _unconfirmed(self, job: Job, why: str) -> None:
        # The alert first: a crash in between only repeats the question, never loses it.
        self.record("alert", code="print_unconfirmed", serial=job.serial,
                    message=f"label {job.serial} may or may not have printed: {why}"[:300])
        self.codebook.set_state(job.id, "unconfirmed", why[:200])
        self._error(f"Nhãn {job.serial} chưa rõ đã in ra chưa: trả lời trên màn hình")
        self._beep("error")
        self._update_lamp()

    def _warn_low(self, left: int) -> None:
        low = left < self.cfg.printing.low_water
        if low and not self._low_warned:
            self.record("alert", code="codes_low", message=f"{left} stamp codes left on this station")
        self._low_warned = low

    # -- status, errors, lamp -------------------------------------------------------------------
    def _set_status(self, status: PrinterStatus) -> None:
        # The alert (a durable write) first: what the page shows then changes with the lamp.
        if not status.ready and status.state != self._alerted_state and status.state != "unknown":
            self._alerted_state = status.state
            self.record("alert", code=f"printer_{status.state}"[:40],
                        message=f"{status.message} ({status.detail})"[:300])
            self._beep("error")
        elif status.ready:
            self._alerted_state = ""
        self.status, self.status_at = status, time.monotonic()
        self._update_lamp()

    def _refuse(self, message: str) -> None:
        self._error(message)
        self._beep("error")

    def _error(self, message: str) -> None:
        self.last_error = message
        if not self.errors or self.errors[-1][1] != message:
            self.errors.append((time.time(), message))

    def lamp_word(self) -> str:
        if not self.status.ready and self.status.state != "unknown":
            return "error"
        if self.codebook.count("unconfirmed") or (self.last_error and self.codebook.remaining() == 0):
            return "error"
        if not self.station.link.connected.is_set():
            return "offline"
        return "ok"

    def _update_lamp(self) -> None:
        word = self.lamp_word()
        if word != self.lamp:
            self.lamp = word
            for show in self.indicators:
                show("lamp", word)

    def _beep(self, word: str) -> None:
        for show in self.indicators:
            show("beep", word)

    @staticmethod
    def _job_name(job: Job) -> str:
        return f"{job.serial}-j{job.id}"

    def _simulate(self) -> None:
        every = self.cfg.printing.simulate_every_s or 2.0
        while not self._stop.wait(every):
            serial = self.press()
            if serial:
                log.info("queued %s", serial)
            else:
                log.warning("%s", self.last_error)
