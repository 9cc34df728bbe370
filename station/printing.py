"""The print flow: one press → next code → label → printer → `printed` event
(and `activated` for the current lot when the station is set up so)."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from station.codebook import Codebook
from station.config import StationConfig
from station.printer import LabelData, PrinterDriver, PrinterError, render
from tem.stamp import StampRef

log = logging.getLogger(__name__)


class PrintFlow:
    def __init__(self, cfg: StationConfig, codebook: Codebook, printer: PrinterDriver,
                 record: Callable[..., Any]):
        self.cfg = cfg
        self.codebook = codebook
        self.printer = printer
        self.record = record
        self.paused = False
        self.printed_today = 0
        self.last_error = ""
        self._lock = threading.Lock()
        self._low_warned = False
        for serial in codebook.unfinished():
            # The station stopped mid-job: ask a person instead of printing twice or losing it.
            record("alert", code="print_unconfirmed", serial=serial,
                   message=f"label {serial} may or may not have printed before the station stopped")
            codebook.mark(serial, "unconfirmed")

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
            template = self.cfg.printer.template if self.cfg.printer else "62x29"
            dpi = self.cfg.printer.dpi if self.cfg.printer else 300
            try:
                self.printer.print_label(render(template, label, dpi), name=serial)
            except PrinterError as exc:
                # Nothing printed: the code goes back for the next press.
                self.codebook.mark(serial, "new")
                self.last_error = exc.status.message
                return None
            self.record("printed", serial=serial, gtin=product.gtin, lot=product.lot, template=template)
            self.codebook.mark(serial, "printed")
            if self.cfg.printing.activate_on_print:
                self.record("activated", serial=serial, gtin=product.gtin, lot=product.lot)
            self.printed_today += 1
            self.last_error = ""
            self._warn_low(self.codebook.remaining())
            return serial

    def _warn_low(self, left: int) -> None:
        low = left < self.cfg.printing.low_water
        if low and not self._low_warned:
            self.record("alert", code="codes_low", message=f"{left} stamp codes left on this station")
        self._low_warned = low
