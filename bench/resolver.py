"""Public stamp page latency and throughput under concurrent load, as a ratio against a
static file served by the same gunicorn in the same run.

PostgreSQL database filled by bench/gen_stamps.py (COPY); gunicorn gthread workers; load
from Debian's `wrk` in a second process on loopback. Three passes over stamp pages:
cold (each worker's first sight of the batches), new serials with warm caches (every view
is a first view, so every view records a check: the realistic case), and the same serials
again (reads only, as far as each worker's check window knows).

    .venv/bin/python bench/gen_stamps.py --stamps 2000000 --db tem_gen     # 5 min here
    .venv/bin/python bench/resolver.py --db tem_gen --seconds 20          # or --stamps N to generate and drop
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import socket
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import gen_stamps  # noqa: E402

PG_ADMIN = gen_stamps.PG_ADMIN
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_paths(dbname: str, count: int, seed: int) -> list[str]:
    base = PG_ADMIN.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/{dbname}") as conn:
        conn.execute("SELECT setseed(%s)", (seed / 1000,))
        rows = conn.execute("SELECT gtin, serial FROM stamp TABLESAMPLE BERNOULLI (2) "
                            "WHERE state IN ('active', 'sold') ORDER BY random() LIMIT %s", (count,)).fetchall()
    return [f"/01/{g}/21/{s}" for g, s in rows]


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU time of these processes so far (0 for one that has gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


class Server:
    """The gunicorn workers and the PostgreSQL backends serving them, for CPU accounting:
    on a machine shared with other work, CPU per request is the figure that noise spares."""

    def __init__(self, master: int, dbname: str):
        self.master, self.dbname = master, dbname

    def pids(self) -> tuple[list[int], list[int]]:
        """(gunicorn workers, their PostgreSQL backends)"""
        workers = subprocess.run(["pgrep", "-P", str(self.master)], capture_output=True, text=True).stdout.split()
        with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{self.dbname}") as conn:
            backends = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                                                   "AND pid <> pg_backend_pid()", (self.dbname,))]
        return [int(p) for p in workers], backends


def measured(server: Server, url: str, connections: int, seconds: int, script: Path | None) -> dict[str, float]:
    workers, backends = server.pids()
    before = cpu_seconds(workers), cpu_seconds(backends)
    result = wrk(url, connections, seconds, script)
    after_workers, after_backends = server.pids()
    # a backend born during the run counts from zero
    per_request = 1000 / max(1.0, result["requests"])
    result["worker_ms"] = (cpu_seconds(sorted(set(workers) | set(after_workers))) - before[0]) * per_request
    result["db_ms"] = (cpu_seconds(sorted(set(backends) | set(after_backends))) - before[1]) * per_request
    result["cpu_ms"] = result["worker_ms"] + result["db_ms"]
    result["load"] = os.getloadavg()[0]
    return result


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
    timeouts = re.search(r"timeout (\d+)", out)  # wrk counts a request unanswered after 2 s here, not in p99
    requests = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "errors": float(errors.group(1)) if errors else 0.0,
            "requests": requests,
            "timeouts": float(timeouts.group(1)) if timeouts else 0.0}


def lua(paths: list[str], path: Path) -> Path:
    path.write_text("paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
                    "request = function() return wrk.format('GET', paths[math.random(#paths)], "
                    "{['Accept-Language'] = 'vi-VN,vi'}) end\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stamps", type=int, default=1_000_000)
    ap.add_argument("--db", help="reuse this database made by bench/gen_stamps.py (kept afterwards)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=15)
    # Two processes for two cores: every worker keeps its own cache of thousands of batches,
    # so more workers mean more cold reads and more memory for the same cores.
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--distinct", type=int, default=20_000, help="distinct serials requested per pass")
    args = ap.parse_args()

    name = args.db or f"tem_bench_{os.getpid()}"
    gunicorn = None
    try:
        if not args.db:
            g = gen_stamps.generate(args.stamps, name)
            print(f"filled {g.stamps:,} stamps, {g.events:,} events in {g.seconds:.0f} s")
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
        with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}") as conn:
            stamps = conn.execute("SELECT count(*) FROM stamp").fetchone()[0]  # type: ignore[index]
            events = conn.execute("SELECT count(*) FROM event").fetchone()[0]  # type: ignore[index]
        instance = Path(tempfile.mkdtemp(prefix="tem-bench-"))
        port = free_port()
        config = {"TEM_INSTANCE": str(instance), "DATABASE_URL": url, "RATELIMIT_ENABLED": False}
        env = {**os.environ, "TEM_DB_POOL_SIZE": str(args.threads)}
        gunicorn = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(args.workers),
             "-k", "gthread", "--threads", str(args.threads), "--log-level", "warning",
             f"hub.app:create_app({config!r})"], cwd=ROOT, env=env)
        root = f"http://127.0.0.1:{port}"
        cold, fresh = sample_paths(name, args.distinct, 1), sample_paths(name, args.distinct, 2)
        deadline = time.time() + 30
        while True:
            try:
                page = urllib.request.urlopen(root + cold[0]).read().decode()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        css = re.search(r'href="(/static/tem\.css\?v=\w+)"', page).group(1)  # type: ignore[union-attr]
        wrk(root + css, args.connections, 3, None)  # warm up
        server = Server(gunicorn.pid, name)
        static = measured(server, root + css, args.connections, args.seconds, None)
        first = measured(server, root + "/", args.connections, args.seconds, lua(cold, instance / "cold.lua"))
        new = measured(server, root + "/", args.connections, args.seconds, lua(fresh, instance / "fresh.lua"))
        again = measured(server, root + "/", args.connections, args.seconds, lua(fresh, instance / "fresh.lua"))
        print(f"\n{stamps:,} stamps, {events:,} events; gunicorn {args.workers} gthread workers x {args.threads} "
              f"threads, wrk -t2 -c{args.connections} -d{args.seconds}s, {os.cpu_count()} cores shared by all")
        print(f"{'what':44} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'timeout':>8} "
              f"{'CPU ms/req':>10} {'(gunicorn':>9} {'+ PG)':>6} {'load':>5}")
        rows = (("static file /static/tem.css", static),
                (f"stamp page, cold caches, {len(cold)} serials", first),
                (f"stamp page, warm, {len(fresh)} new serials", new),
                ("stamp page, warm, same serials again", again))
        for label, r in rows:
            print(f"{label:44} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:8.0f} "
                  f"{r['timeouts']:8.0f} {r['cpu_ms']:10.2f} {r['worker_ms']:9.2f} {r['db_ms']:6.2f} {r['load']:5.1f}")
        for label, r in rows[1:]:
            print(f"ratio page/static ({label.split(', ', 1)[1]}): throughput {r['rps'] / static['rps']:.3f}x, "
                  f"p99 latency {r['p99'] / static['p99']:.1f}x, server+database CPU per request "
                  f"{r['cpu_ms'] / static['cpu_ms']:.1f}x")
        print("CPU ms/req: gunicorn workers and their PostgreSQL backends, not wrk; pages/s that two idle "
              f"cores could serve at that cost: {2000 / again['cpu_ms']:.0f} (warm, same serials), "
              f"{2000 / new['cpu_ms']:.0f} (warm, new serials)")
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(30)
        if not args.db:
            gen_stamps.drop(name)


if __name__ == "__main__":
    main()
