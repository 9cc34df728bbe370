"""Time from a PRINT press to the first byte on the wire (p50/p99), through the whole print
flow (durable job in SQLite, render, Brother QL driver, pseudo-terminal) to a fake QL-800 that
timestamps what it receives. Baselines in the same run: a raw write of a precomputed raster
to the same pty, and the bare driver printing a pre-rendered image (no queue, no render).
Usage: python bench/print_latency.py [N]   (N presses per case, default 200)."""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from station.printer import LabelData, render
from station.printer.brother import BrotherQLPrinter
from station.printer.transport import DeviceTransport
from tests.fakes.printers import FakeBrotherQL
from tests.print_helpers import make_station

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
BUTTON = 17


class TimedQL(FakeBrotherQL):
    """The fake QL-800, noting when the first byte and the first raster row of a job arrive."""

    def arm(self) -> None:
        self.first_at: float | None = None
        self.raster_at: float | None = None
        self.page_at: float | None = None
        self.armed = True

    def feed(self) -> None:
        if getattr(self, "armed", False) and self.first_at is None:
            self.first_at = time.perf_counter()
        super().feed()

    def _command(self, name: str, cmd: bytes, payload: bytes) -> None:
        if getattr(self, "armed", False):
            if name == "raster" and self.raster_at is None:
                self.raster_at = time.perf_counter()
            if name == "print":
                self.page_at = time.perf_counter()
        super()._command(name, cmd, payload)


def wait(pred, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not pred():
        if time.perf_counter() > deadline:
            raise TimeoutError("the fake printer got nothing")
        time.sleep(0.0002)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def summary(name: str, first: list[float], raster: list[float] | None = None, page: list[float] | None = None,
            base: float | None = None) -> str:
    ms = lambda v: f"{v * 1000:7.2f}"
    p50 = pct(first, 50)
    line = f"| {name:<40} | {ms(p50)} | {ms(pct(first, 99))} |"
    line += f" {ms(pct(raster, 50)) if raster else '      –'} | {ms(pct(raster, 99)) if raster else '      –'} |"
    line += f" {ms(pct(page, 50)) if page else '      –'} |"
    line += f" {p50 / base:7.1f}× |" if base else "       – |"
    return line


def raw_baseline(fake: TimedQL, job: bytes) -> list[float]:
    conn = DeviceTransport(fake.path)
    out = []
    for _ in range(N):
        fake.arm()
        t0 = time.perf_counter()
        conn.write(job)
        wait(lambda: fake.page_at is not None)
        out.append(fake.first_at - t0)
        conn.drain()
    conn.close()
    return out


def driver_baseline(fake: TimedQL, image) -> tuple[list[float], list[float], list[float]]:  # type: ignore[no-untyped-def]
    drv = BrotherQLPrinter(fake.path, "QL-800", "62x29")
    first, raster, page = [], [], []
    for _ in range(N):
        fake.arm()
        t0 = time.perf_counter()
        drv.print_label(image)
        first.append(fake.first_at - t0)
        raster.append(fake.raster_at - t0)
        page.append(fake.page_at - t0)
    drv.close()
    return first, raster, page


def flow_case(fake: TimedQL, tmp: Path, gpio: bool) -> tuple[list[float], list[float], list[float]]:
    printer = {"driver": "brother_ql", "model": "QL-800", "target": fake.path, "template": "62x29"}
    extra = {"gpio": {"button_pin": BUTTON, "debounce_s": 0.05}} if gpio else {}
    st = make_station(tmp, printer, codes=N + 5, **extra)
    st.flow.start()
    pin = Device.pin_factory.pin(BUTTON) if gpio else None
    first, raster, page = [], [], []
    time.sleep(0.5)  # let the worker's first status query pass
    for _ in range(N):
        fake.arm()
        if pin is not None:
            pin.drive_low()
            time.sleep(0.1)  # a real press is ~100 ms; shorter than the debounce counts as a bounce
            t0 = time.perf_counter()  # the finger leaves the button: a short press acts on release
            pin.drive_high()
        else:
            t0 = time.perf_counter()
            st.flow.press()
        wait(lambda: fake.page_at is not None)
        first.append(fake.first_at - t0)
        raster.append(fake.raster_at - t0)
        page.append(fake.page_at - t0)
        wait(lambda: st.flow.codebook.count("queued", "sending", "printed") == 0)
    st.flow.stop()
    st.outbox.close()
    return first, raster, page


def main() -> None:
    os.environ.setdefault("TEM_TEST_MQTT_PASSWORD", "unused")
    Device.pin_factory = MockFactory()
    fake = TimedQL("QL-800", roll=(62, 29))
    image = render("62x29", LabelData("HTTPS://TEM.VN/01/08934567890120/21/A0000C1S27H4DGG6", "A0000C1S27H4DGG6",
                                      "Cá thát lát rút xương", "HTX Kỳ Như", "L1", "2026-05-01"))
    job = BrotherQLPrinter(fake.path, "QL-800", "62x29").raster(image)
    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_baseline(fake, job)
        drv = driver_baseline(fake, image)
        flow = flow_case(fake, Path(tmp) / "flow", gpio=False)
        button = flow_case(fake, Path(tmp) / "gpio", gpio=True)
    fake.close()
    base = pct(raw, 50)
    print(f"{N} presses per case; times in ms from the press; ratio = p50 first byte / raw-write p50; "
          f"{os.cpu_count()} CPUs, threads alive {threading.active_count()}")
    print("| case | first byte p50 | p99 | first raster row p50 | p99 | label done p50 | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(summary("raw write of a precomputed raster (baseline)", raw, base=base))
    print(summary("driver.print_label(pre-rendered image)", *drv, base=base))
    print(summary("flow.press() → queue → render → driver", *flow, base=base))
    print(summary("GPIO button release → … (debounce 50 ms)", *button, base=base))


if __name__ == "__main__":
    main()
