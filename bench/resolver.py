"""Public stamp page latency and throughput under concurrent load, as a ratio against a
static file served by the same gunicorn in the same run.

PostgreSQL database (created and dropped here) filled with COPY; gunicorn gthread
workers; load from Debian's `wrk` in a second process on loopback.

    .venv/bin/python bench/resolver.py [--stamps 200000] [--connections 64] [--seconds 15]
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hub import db as hubdb  # noqa: E402
from tem import gs1  # noqa: E402
from tem.codes import Keyring  # noqa: E402

PG_ADMIN = os.environ.get("TEM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(conn: psycopg.Connection, stamps: int, products: int, batches_per_product: int) -> list[str]:
    """Cooperatives, products, batches, diary, stamps and their printed/activated events, by COPY."""
    keyring = Keyring({"A": b"bench-key-0123456789abcdef"})
    now = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.timezone.utc)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO cooperative (name, address, province, district, phone) "
                    "SELECT 'HTX ' || g, 'Ấp ' || g, 'Hậu Giang', 'Vị Thanh', '0293 000' || g "
                    "FROM generate_series(1, %s) g", (max(1, products // 5),))
        gtins = []
        for i in range(products):
            body = f"893850{i:06d}"
            gtins.append((body + str(gs1.check_digit(body))).zfill(14))
        cur.executemany("INSERT INTO product (gtin, name_vi, name_en, category, cooperative_id) "
                        "VALUES (%s, %s, '', '', %s)",
                        [(g, f"Sản phẩm {i}", 1 + i % max(1, products // 5)) for i, g in enumerate(gtins)])
        cur.execute("INSERT INTO station (id, kind, name, place, province, broker_hash, online) VALUES "
                    "('pr-1', 'print', 'Máy in 1', 'Vị Thanh', 'Hậu Giang', '', false),"
                    "('act-1', 'activation', 'Dây chuyền 1', 'Vị Thanh', 'Hậu Giang', '', false),"
                    "('stall-1', 'stall', 'Sạp 1', 'Cần Thơ', 'Cần Thơ', '', false)")
        cur.execute("INSERT INTO batch (product_id, lot, packed_on, place) "
                    "SELECT p.id, 'L' || b, DATE '2026-11-20', 'Xưởng' FROM product p, generate_series(1, %s) b",
                    (batches_per_product,))
        cur.execute("SELECT b.id, p.gtin, b.lot FROM batch b JOIN product p ON p.id = b.product_id ORDER BY b.id")
        batches = cur.fetchall()
        cur.execute("INSERT INTO diary_entry (batch_id, stage, day, note, who, place, recorded_by, created_at) "
                    "SELECT b.id, s.stage, DATE '2026-11-01' + s.n, 'ghi chú', 'Tổ 1', 'Ao 4', 'person', now() "
                    "FROM batch b, (VALUES ('planting', 0), ('harvest', 10), ('packing', 19)) s(stage, n)")
        serials = []
        stamp_buf, event_buf = io.StringIO(), io.StringIO()
        for n in range(1, stamps + 1):
            batch_id, gtin, _lot = batches[n % len(batches)]
            serial = keyring.mint(n, gtin)
            serials.append(f"/01/{gtin}/21/{serial}")
            stamp_buf.write(f"{n}\t{serial}\t{gtin}\tactive\t{batch_id}\t{now.isoformat()}\t{now.isoformat()}\t0\n")
            for seq, kind, station in ((n, "printed", "pr-1"), (n, "activated", "act-1")):
                event_buf.write(f"{uuid.uuid4()}\t{station}\t{seq}\t{kind}\t{serial}\t{now.isoformat()}\t"
                                f"{now.isoformat()}\tt\t{{\"type\": \"{kind}\"}}\n")
        with cur.copy("COPY stamp (id, serial, gtin, state, batch_id, issued_at, activated_at, checks) "
                      "FROM STDIN") as cp:
            cp.write(stamp_buf.getvalue())
        with cur.copy("COPY event (id, station_id, seq, type, serial, at, received_at, applied, body) "
                      "FROM STDIN") as cp:
            cp.write(event_buf.getvalue())
        cur.execute("ANALYZE")
    conn.commit()
    return serials


def wrk(url: str, connections: int, seconds: int, script: Path | None) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "errors": float(errors.group(1)) if errors else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stamps", type=int, default=200_000)
    ap.add_argument("--products", type=int, default=50)
    ap.add_argument("--batches", type=int, default=4, help="batches per product")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--distinct", type=int, default=20_000,
                    help="distinct serials requested; each one's first view writes a checked event")
    args = ap.parse_args()

    name = f"tem_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    url = base.replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    gunicorn = None
    try:
        hubdb.upgrade(url)
        t0 = time.perf_counter()
        with psycopg.connect(f"{base}/{name}") as conn:
            paths = fill(conn, args.stamps, args.products, args.batches)
        print(f"filled {args.stamps} stamps, {2 * args.stamps} events in {time.perf_counter() - t0:.1f}s")
        instance = Path(tempfile.mkdtemp(prefix="tem-bench-"))
        port = free_port()
        config = {"TEM_INSTANCE": str(instance), "DATABASE_URL": url, "RATELIMIT_ENABLED": False}
        gunicorn = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(args.workers),
             "-k", "gthread", "--threads", str(args.threads), "--log-level", "warning",
             f"hub.app:create_app({config!r})"], cwd=ROOT)
        root = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                page = urllib.request.urlopen(root + paths[0]).read().decode()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        css = re.search(r'href="(/static/tem\.css\?v=\w+)"', page).group(1)  # type: ignore[union-attr]
        sample = random.Random(1).sample(paths, min(len(paths), args.distinct))
        script = instance / "paths.lua"
        script.write_text("paths = {" + ",".join(f'"{p}"' for p in sample) + "}\n"
                          "request = function() return wrk.format('GET', paths[math.random(#paths)], "
                          "{['Accept-Language'] = 'vi-VN,vi'}) end\n")
        wrk(root + css, args.connections, 3, None)  # warm up
        static = wrk(root + css, args.connections, args.seconds, None)
        pages = wrk(root + "/", args.connections, args.seconds, script)
        warm = wrk(root + "/", args.connections, args.seconds, script)  # same serials again: reads only
        print(f"\n{args.stamps} stamps, gunicorn {args.workers} gthread workers x {args.threads} threads, "
              f"wrk -t2 -c{args.connections} -d{args.seconds}s, {os.cpu_count()} cores shared by both")
        print(f"{'what':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for label, r in (("static file /static/tem.css", static),
                         (f"stamp page, {len(sample)} serials, 1st", pages),
                         (f"stamp page, same serials again", warm)):
            print(f"{label:34} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:8.0f}")
        for label, r in (("first pass", pages), ("second pass", warm)):
            print(f"ratio page/static ({label}): throughput {r['rps'] / static['rps']:.3f}x, "
                  f"p99 latency {r['p99'] / static['p99']:.1f}x")
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(10)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
