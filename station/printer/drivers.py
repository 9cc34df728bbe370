"""The one small interface every printer sits behind, and the factory that picks a driver from the config."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from PIL import Image

from station.config import PrinterConfig
from station.printer.status import PrinterStatus


@runtime_checkable
class PrinterDriver(Protocol):
    def status(self) -> PrinterStatus:
        """Ask the printer now; never raises for a printer that is off or unplugged."""

    def print_label(self, image: Image.Image, *, name: str | None = None) -> object:
        """Print one label rendered by labels.render(); returns once the printer confirmed it.

        Raises PrinterError (nothing sent, nothing printed) when the printer cannot print,
        PrintUnconfirmed (a PrinterError with sent=True) when the job went out but the
        printer could not confirm it printed."""

    def close(self) -> None: ...


def make_driver(cfg: PrinterConfig, data_dir: Path) -> PrinterDriver:
    if cfg.driver == "file":
        from station.printer.simulated import FilePrinter
        return FilePrinter(cfg.output_dir or Path(data_dir) / "labels", dpi=cfg.dpi)
    if cfg.driver == "brother_ql":
        from station.printer.brother import BrotherQLPrinter
        return BrotherQLPrinter.from_config(cfg)
    if cfg.driver == "escpos":
        from station.printer.escpos_driver import EscPosPrinter
        return EscPosPrinter.from_config(cfg)
    if cfg.driver == "zpl":
        from station.printer.zpl import ZplPrinter
        return ZplPrinter.from_config(cfg)
    raise ValueError(f"unknown printer driver {cfg.driver!r}")
