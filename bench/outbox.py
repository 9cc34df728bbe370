"""Outbox: durable appends per second and the p99 latency of "print pressed →
event on disk", as a ratio against a bare SQLite insert+commit with the same
durability (WAL, synchronous=FULL) in the same run: the fsync floor.

    .venv/bin/python bench/outbox.py [--n 2000]
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from station.outbox import Outbox  # noqa: E402

SERIAL = "A0000C1S27H4DGG6"


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        raw = sqlite3.connect(Path(d) / "raw.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, body BLOB)")
        body = b"x" * 182

        def raw_insert() -> None:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT INTO t (id, body) VALUES (hex(randomblob(16)), ?)", (body,))
            raw.execute("COMMIT")

        outbox = Outbox(Path(d) / "outbox.db", "bench")
        rows = []
        # Interleave the two so machine noise hits both alike.
        base, tem = [], []
        for _ in range(4):
            base += timed(raw_insert, args.n // 4)
            tem += timed(lambda: outbox.append("printed", serial=SERIAL, gtin="08934567890120", lot="L1"),
                         args.n // 4)
        for name, lat in (("sqlite insert+commit (baseline)", base), ("outbox.append (validated event)", tem)):
            q = statistics.quantiles(lat, n=100)
            rows.append((name, len(lat) / sum(lat), q[49] * 1e3, q[98] * 1e3))
    print(f"{args.n} durable appends each, WAL + synchronous=FULL, interleaved")
    print(f"{'path':<34}{'appends/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}")
    for name, rate, p50, p99 in rows:
        print(f"{name:<34}{rate:>11.0f}{p50:>9.3f}{p99:>9.3f}{rate / rows[0][1]:>8.2f}")


if __name__ == "__main__":
    main()
