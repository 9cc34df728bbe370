"""Resident memory of an idle station process (goal ≤ 80 MB, a 512 MB Pi Zero 2 W
beside the camera), against a bare Python interpreter in the same run.

    .venv/bin/python bench/station_memory.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.spine_world import hub_world  # noqa: E402

BIN = Path(sys.executable).parent
SETTLE_S = 6


def rss_mb(cmd: list[str], env: dict[str, str] | None = None) -> float:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(SETTLE_S)
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd} exited with {proc.returncode}")
        return psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    with hub_world("sqlite", ["mem-print", "mem-stall"]) as (_url, broker, passwords, _s, tmp):
        configs = {}
        for sid, kind, extra in (("mem-print", "print", '[printer]\ndriver = "file"\n'),
                                 ("mem-stall", "stall", "")):
            (tmp / f"{sid}.secret").write_text(passwords[sid])
            path = tmp / f"{sid}.toml"
            path.write_text(f'station_id = "{sid}"\nkind = "{kind}"\ndata_dir = "{tmp / sid}"\n'
                            f'[mqtt]\nport = {broker.port}\npassword_file = "{tmp / (sid + ".secret")}"\n{extra}')
            configs[kind] = path
        base = rss_mb([sys.executable, "-c", "import time; time.sleep(60)"])
        rows = [("bare python (baseline)", base)]
        for kind, path in configs.items():
            rows.append((f"idle {kind} station", rss_mb([str(BIN / "tem-station"), "run", str(path)], dict(os.environ))))
    print(f"RSS after {SETTLE_S} s idle, connected to a real Mosquitto")
    print(f"{'process':<26}{'RSS MB':>8}{'ratio':>8}")
    for name, mb in rows:
        print(f"{name:<26}{mb:>8.1f}{mb / base:>8.1f}")


if __name__ == "__main__":
    main()
