"""Label printing for print stations: layout, rendering and printer drivers behind one interface."""
from station.printer.drivers import PrinterDriver, make_driver
from station.printer.labels import LabelData, render
from station.printer.status import PrinterError, PrinterStatus, PrintUnconfirmed

__all__ = ["LabelData", "render", "PrinterStatus", "PrinterError", "PrintUnconfirmed",
           "PrinterDriver", "make_driver"]
