"""Peak resident memory of a scan station: `tem-station run` as its own process (activation and
stall kinds) with a replayed camera of stamp frames at 15 fps, the decoder, the outbox and the
station page, for a while; VmHWM from /proc is the peak. No broker is needed (the link retries).

    .venv/bin/python -m bench.decode_rss [--seconds 20]
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from tests import scanner_images as si

GOAL_MB = 150


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure(kind: str, frames: Path, work: Path, seconds: float) -> tuple[float, float, int]:
    data = work / kind
    data.mkdir()
    (data / "mqtt.secret").write_text("x")
    product = ('[product]\ngtin = "08934567890120"\nname = "Cá thát lát"\nlot = "L1"\n'
               if kind == "activation" else "")
    cfg = work / f"{kind}.toml"
    cfg.write_text(f'station_id = "rss-{kind}"\nkind = "{kind}"\ndata_dir = "{data}"\n'
                   f'[mqtt]\nport = {_free_port()}\n{product}'
                   f'[camera]\nsource = "replay"\ndevice = "{frames}"\nfps = 15\nloop = true\nbudget_ms = 40\n'
                   f'[kiosk]\nport = {_free_port()}\n')
    exe = Path(sys.executable).parent / "tem-station"
    proc = subprocess.Popen([str(exe), "run", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(seconds)
        peak = _status_kb(proc.pid, "VmHWM") / 1024
        now = _status_kb(proc.pid, "VmRSS") / 1024
        events = 0
        outbox = data / "outbox.db"
        if outbox.exists():
            import sqlite3
            with sqlite3.connect(outbox) as db:
                events = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    finally:
        proc.terminate()
        proc.wait(10)
    return peak, now, events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        frames = work / "frames"
        frames.mkdir()
        n = 0
        for cat in ("clean", "perspective", "curved", "multi"):
            for img, _ in si.frames(cat, 10):
                cv2.imwrite(str(frames / f"{n:03d}.png"), img)
                n += 1
        for i in range(10):
            cv2.imwrite(str(frames / f"{n:03d}.png"), si.empty_frame(i))
            n += 1
        print(f"{'station':<12} {'peak RSS MB':>12} {'RSS now MB':>11} {'events':>7}  goal <= {GOAL_MB} MB")
        for kind in ("activation", "stall"):
            peak, now, events = measure(kind, frames, work, args.seconds)
            print(f"{kind:<12} {peak:>12.1f} {now:>11.1f} {events:>7}  {'ok' if peak <= GOAL_MB else 'OVER'}")


if __name__ == "__main__":
    main()
