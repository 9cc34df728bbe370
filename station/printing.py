"""The print flow: one press → next code → label → printer → `printed` event
(and `activated` for the current lot when the station is set up so)."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING, Any

from station.codebook import Codebook
from station.printer import LabelData, PrinterError, make_driver, render
from tem import messages
from tem.stamp import StampRef

if TYPE_CHECKING:
    from station.runtime import Station

log = logging.getLogger(__name__)


class PrintFlow:
    def __init__(self, station: "Station"):
        self.station = station
        self.cfg = station.cfg
        assert self.cfg.printer is not None
        self.codebook = Codebook(self.cfg.data_dir / "codes.db")
        self.printer = make_driver(self.cfg.printer, self.cfg.data_dir)
        self.record = station.record
        self.paused = False
        self.printed_today = 0
        self.last_error = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._low_warned = False
        for serial in self.codebook.unfinished():
            # The station stopped mid-job: ask a person instead of printing twice or losing it.
            self._unconfirmed(serial, "the station stopped while this label was being printed")

    def start(self) -> None:
        if self.cfg.printing.simulate_every_s:
            threading.Thread(target=self._simulate, name="simulate-press", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.printer.close()

    def telemetry(self) -> dict[str, Any]:
        status = self.printer.status()
        return {"printer": status.state, "paper": status.paper, "codes_left": self.codebook.remaining()}

    def handle(self, cmd: messages.Command) -> tuple[bool, str] | None:
        if cmd.name == "add_codes":
            added = self.codebook.add([str(s) for s in cmd.args["serials"]], cmd.args.get("gtin"))
            return True, f"{added} codes added"
        if cmd.name in ("pause", "resume"):
            self.paused = cmd.name == "pause"
            return True, f"{cmd.name}d"
        if cmd.name == "test_print":
            serial = self.press()
            return (True, f"printed {serial}") if serial else (False, self.last_error)
        return None

    def press(self) -> str | None:
        """Print the next stamp; returns its serial, or None with `last_error` set."""
        with self._lock:
            product = self.cfg.product
            if self.paused:
                self.last_error = "Trạm đang tạm dừng"
                return None
            if product is None:
                self.last_error = "Chưa chọn sản phẩm và lô"
                return None
            serial = self.codebook.take(product.gtin)
            if serial is None:
                self.last_error = "Hết mã tem: chờ trung tâm cấp thêm"
                self._warn_low(0)
                return None
            ref = StampRef(serial=serial, gtin=product.gtin)
            label = LabelData(qr_text=ref.qr_text(self.cfg.hub_host), serial=serial, product=product.name,
                              producer=product.producer, lot=product.lot,
                              packed_on=product.packed_on or dt.date.today().isoformat())
            printer = self.cfg.printer
            assert printer is not None
            try:
                self.printer.print_label(render(printer.template, label, printer.dpi), name=serial)
            except PrinterError as exc:
                self.last_error = exc.status.message
                if exc.sent:
                    self._unconfirmed(serial, exc.status.detail or exc.status.message)
                else:
                    self.codebook.mark(serial, "new")  # nothing printed: the code is used next time
                return None
            self.record("printed", serial=serial, gtin=product.gtin, lot=product.lot, template=printer.template)
            self.codebook.mark(serial, "printed")
            if self.cfg.printing.activate_on_print:
                self.record("activated", serial=serial, gtin=product.gtin, lot=product.lot)
            self.printed_today += 1
            self.last_error = ""
            self._warn_low(self.codebook.remaining())
            return serial

    def _unconfirmed(self, serial: str, why: str) -> None:
        self.record("alert", code="print_unconfirmed", serial=serial,
                    message=f"label {serial} may or may not have printed: {why}"[:300])
        self.codebook.mark(serial, "unconfirmed")

    def _warn_low(self, left: int) -> None:
        low = left < self.cfg.printing.low_water
        if low and not self._low_warned:
            self.record("alert", code="codes_low", message=f"{left} stamp codes left on this station")
        self._low_warned = low

    def _simulate(self) -> None:
        every = self.cfg.printing.simulate_every_s or 2.0
        while not self._stop.wait(every):
            serial = self.press()
            if serial:
                log.info("printed %s", serial)
            else:
                log.warning("%s", self.last_error)
