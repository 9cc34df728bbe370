"""SIGKILL a real `tem-station run` in the middle of a 200-label run on a fake Brother QL,
restart it: every stamp is printed once or recorded as needing a decision; none is
printed twice silently; none is lost."""
from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.codebook import Codebook
from tests.fakes.printers import FakeBrotherQL
from tests.print_helpers import (
    GTIN,
    PRODUCT,
    decode,
    events,
    serial_of,
    serials,
    wait_until,
)

N = 200
ROOT = Path(__file__).resolve().parent.parent


def _toml(data_dir: Path, printer: str) -> str:
    product = "\n".join(f'{k} = "{v}"' for k, v in PRODUCT.items())
    return f"""station_id = "st-1"
kind = "print"
data_dir = "{data_dir}"
telemetry_interval_s = 1

[mqtt]
port = 1  # nothing listens: the station prints offline and keeps its events
password_env = "TEM_TEST_MQTT_PASSWORD"

[product]
{product}

[printer]
{printer}

[printing]
simulate_every_s = 0.01  # presses faster than the printer prints: the queue fills up
low_water = 0
"""


def _start(config: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TEM_TEST_MQTT_PASSWORD": "unused"}
    return subprocess.Popen([sys.executable, "-m", "station.cli", "run", str(config)], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _jobs(data_dir: Path) -> list[tuple[str, str, int]]:
    db = sqlite3.connect(data_dir / "codes.db", timeout=5)
    try:
        return db.execute("SELECT serial, state, reprint FROM job ORDER BY id").fetchall()
    finally:
        db.close()


def _open_jobs(data_dir: Path) -> int:
    return sum(1 for _, state, _ in _jobs(data_dir) if state in ("queued", "sending", "printed"))


@pytest.mark.slow
def test_sigkill_mid_run_loses_nothing_and_prints_nothing_twice_silently(tmp_path: Path) -> None:
    data_dir = tmp_path / "st-1"
    data_dir.mkdir()
    wanted = serials(N)
    book = Codebook(data_dir / "codes.db")
    book.add(wanted, GTIN)
    book.close()
    fake = FakeBrotherQL("QL-800", roll=(62, 29))
    config = tmp_path / "st-1.toml"
    config.write_text(_toml(data_dir, f'driver = "brother_ql"\nmodel = "QL-800"\ntarget = "{fake.path}"\n'
                                      'template = "62x29"'))
    log = tmp_path / "station.log"
    proc = _start(config, log)
    try:
        # Kill it once ~half the labels are out and the next job has started on the wire.
        wait_until(lambda: len(fake.pages) >= N // 2 or proc.poll() is not None, timeout=120,
                   what="half the labels printed")
        assert proc.poll() is None, log.read_text()[-3000:]
        at_page = len(fake.received)
        wait_until(lambda: len(fake.received) > at_page + 2000, timeout=10, every=0.001,
                   what="the next job on the wire")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        pages_at_kill = len(fake.pages)
        time.sleep(0.3)
        proc = _start(config, log)
        wait_until(lambda: len(_jobs(data_dir)) == N and _open_jobs(data_dir) == 0, timeout=180,
                   what="every job finished or waiting for a person")
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        time.sleep(0.2)
        fake.close()

    printed_pages = collections.Counter(serial_of(u) for p in fake.pages for u in decode(p.image))
    assert sum(printed_pages.values()) == len(fake.pages), "every page carries one readable stamp"
    jobs = _jobs(data_dir)
    state = {serial: st for serial, st, _ in jobs}
    printed_events = collections.Counter(e["serial"] for e in events(data_dir, "printed"))
    asked = {e["serial"] for e in events(data_dir, "alert") if e["code"] == "print_unconfirmed"}

    # None lost: every code became exactly one job, and each ended printed or waiting for a decision.
    assert sorted(state) == sorted(wanted) and len(jobs) == N
    assert set(state.values()) <= {"done", "unconfirmed"}, collections.Counter(state.values())
    unconfirmed = {s for s, st in state.items() if st == "unconfirmed"}
    # None printed twice: no serial on two pages, no reprints, and nothing unknown on the paper.
    assert max(printed_pages.values()) == 1 and set(printed_pages) <= set(wanted)
    assert not any(reprint for _, _, reprint in jobs)
    # Printed means on paper once and one `printed` event; an unknown outcome was asked about, not reprinted.
    done = {s for s, st in state.items() if st == "done"}
    assert set(printed_events) == done and max(printed_events.values()) == 1
    assert done <= set(printed_pages)
    assert unconfirmed == asked and len(unconfirmed) <= 1
    assert set(printed_pages) - done <= unconfirmed
    print(f"\nkilled at page {pages_at_kill}; {len(done)} printed once, {len(unconfirmed)} needing a decision "
          f"({', '.join(sorted(unconfirmed)) or 'none'}; on paper: {bool(unconfirmed & set(printed_pages))})")


@pytest.mark.slow
def test_sigkill_mid_run_on_the_file_printer_resolves_every_job_from_its_output(tmp_path: Path) -> None:
    """The file printer can tell whether a job came out (its PNG exists or not), so after the
    restart nothing needs a person: each stamp is one file and one `printed` event."""
    data_dir = tmp_path / "st-1"
    data_dir.mkdir()
    wanted = serials(N)
    book = Codebook(data_dir / "codes.db")
    book.add(wanted, GTIN)
    book.close()
    config = tmp_path / "st-1.toml"
    config.write_text(_toml(data_dir, 'driver = "file"\ntemplate = "62x29"'))
    log = tmp_path / "station.log"
    out = data_dir / "labels"
    proc = _start(config, log)
    try:
        wait_until(lambda: (out.exists() and len(list(out.glob("*.png"))) >= N // 2) or proc.poll() is not None,
                   timeout=120, every=0.005, what="half the labels printed")
        assert proc.poll() is None, log.read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        at_kill = len(list(out.glob("*.png")))
        proc = _start(config, log)
        wait_until(lambda: len(_jobs(data_dir)) == N and _open_jobs(data_dir) == 0, timeout=180,
                   what="every job finished")
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    from PIL import Image
    on_paper = collections.Counter(serial_of(u) for f in out.glob("*.png") for u in decode(Image.open(f)))
    assert on_paper == collections.Counter(wanted)  # every stamp once: none lost, none twice
    assert {s: st for s, st, _ in _jobs(data_dir)} == {s: "done" for s in wanted}
    assert collections.Counter(e["serial"] for e in events(data_dir, "printed")) == collections.Counter(wanted)
    assert not list(out.glob("*.part"))
    print(f"\nkilled with {at_kill} label files written; all {N} resolved from the printer's output")
