"""Operator console benchmarks (issue 7).

dashboard: 1,000 simulated stations (bench/scale.py's clients: own broker logins, Tem's
wire format, retained online state) through the real Mosquitto into one real `tem ingest`
and PostgreSQL. First the hub idles (stations connected, silent); then every station sends
telemetry every 10 s. In both phases the dashboard page (/ops/) and its live-update endpoint
(/ops/fleet.json) are rendered by the real Flask app, signed in as an admin, and timed;
the ingestor's CPU is metered. Figures are ratios against the idle phase of the same run.
Goals: dashboard p99 <= 300 ms, telemetry ingest <= 20 % of one core.

report: the product x district report (hub.reports.build) over the 10 M stamp database
bench/gen_stamps.py made (read-only), against a plain count(*) over stamp in the same run.
Goal: <= 2 s on PostgreSQL.

    .venv/bin/python bench/console.py dashboard            # 1000 stations, 40 s of telemetry
    .venv/bin/python bench/console.py report --db tem_gen
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import HUB_PASSWORD, PG_ADMIN, CpuMeter, percentile, seed, sim_worker  # noqa: E402


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def _time_pages(client, paths: list[str], rounds: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(rounds):
        for p in paths:
            t = time.perf_counter()
            r = client.get(p)
            out[p].append(time.perf_counter() - t)
            assert r.status_code == 200, (p, r.status_code)
    return out


def _summary(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 0.5) * 1000, percentile(samples, 0.99) * 1000


def dashboard(args: argparse.Namespace) -> None:
    import psutil
    import psycopg

    from hub.app import create_app
    from hub.auth import create_user
    from hub.broker import Broker
    from hub import db as hubdb

    name = f"tem_console_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="tem-console-"))
    ingest = broker = None
    sims: list = []
    try:
        plan, pool, accounts = seed(url, args.stations, 0.4, 1, 10)
        with hubdb.sessions(hubdb.make_engine(url))() as s, s.begin():
            create_user(s, "bench", "bench-password-123", "admin")
        broker = Broker(tmp / "broker", autosave_interval=2)
        broker.write(accounts)
        broker.start()
        env = {**os.environ, "DATABASE_URL": url, "TEM_INSTANCE": str(tmp / "instance"),
               "TEM_BROKER_PORT": str(broker.port), "TEM_HUB_MQTT_PASSWORD": HUB_PASSWORD}
        env.pop("MQTT_URL", None)
        log = tmp / "ingest.log"
        with open(log, "wb") as out:
            ingest = subprocess.Popen([str(Path(sys.executable).parent / "tem"), "ingest"], env=env, stdout=out,
                                      stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "ingestor connected" not in log.read_text(errors="replace"):
            time.sleep(0.2)

        # The console in this process, as gunicorn would run it (its liveness timer included).
        app = create_app({"TEM_INSTANCE": str(tmp / "web"), "DATABASE_URL": url, "WTF_CSRF_ENABLED": False,
                          "RATELIMIT_ENABLED": False})
        client = app.test_client()
        r = client.post("/login", data={"username": "bench", "password": "bench-password-123"})
        assert r.status_code == 302, r.status_code
        pages = ["/ops/", "/ops/fleet.json"]

        ctx = mp.get_context("spawn")
        go, ready, results = ctx.Event(), ctx.Queue(), ctx.Queue()
        shares = [plan[i::args.procs] for i in range(args.procs)]
        sending = args.duration + 15  # the warm-up and the metered telemetry phase
        sims = [ctx.Process(target=sim_worker, args=(share, pool, broker.port, 0.0, sending, 5, go, ready, results))
                for share in shares]
        for p in sims:
            p.start()
        connected = sum(ready.get(timeout=180) for _ in sims)
        proc = psutil.Process(ingest.pid)
        for _ in range(30):  # the online states (and the stalls' first syncs) are handled: the hub is idle
            before = proc.cpu_times()
            time.sleep(3)
            after = proc.cpu_times()
            if (after.user + after.system - before.user - before.system) / 3 < 0.03:
                break
        me = psutil.Process()
        groups = {"ingestor": lambda: [psutil.Process(ingest.pid)],
                  # this database's backends only: other tenants of the server are not the hub's cost
                  "postgres": lambda: [p for p in psutil.process_iter(["name", "cmdline"])
                                       if p.info["name"] == "postgres" and name in " ".join(p.info["cmdline"] or [])],
                  "mosquitto": lambda: [psutil.Process(broker.proc.pid)],
                  "web (this process)": lambda: [me]}

        def phase() -> tuple[dict[str, float], dict[str, list[float]]]:
            meter = CpuMeter(groups)
            meter.start()
            t_end = time.monotonic() + args.duration
            samples: dict[str, list[float]] = {p: [] for p in pages}
            while time.monotonic() < t_end:
                for p, v in _time_pages(client, pages, 1).items():
                    samples[p] += v
                time.sleep(args.every)
            return meter.stop(), samples

        _time_pages(client, pages, 3)  # warm the templates and the pool
        print(f"{args.stations} stations, {connected} connected; each phase {args.duration:.0f} s, a page pair "
              f"every {args.every} s; {_load()}", flush=True)
        idle_cpu, idle = phase()
        go.set()  # telemetry every 10 s from every station
        time.sleep(12)  # every station has sent at least once: full rows on the page
        busy_cpu, busy = phase()
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            tele = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
            with_tele = conn.execute("SELECT count(*) FROM station WHERE telemetry IS NOT NULL").fetchone()[0]
        print(f"telemetry rows stored {tele}; stations with telemetry {with_tele}/{args.stations}; {_load()}")
        for p in pages:
            i50, i99 = _summary(idle[p])
            b50, b99 = _summary(busy[p])
            print(f"  {p:16} idle p50 {i50:6.1f} ms p99 {i99:6.1f} ms | telemetry p50 {b50:6.1f} ms p99 {b99:6.1f} ms"
                  f" | ratio p50 {b50 / i50:.2f} p99 {b99 / i99:.2f} (n={len(busy[p])})")
        for g in groups:
            print(f"  CPU {g:20} idle {idle_cpu[g]:.3f} cores | telemetry {busy_cpu[g]:.3f} cores "
                  f"(+{busy_cpu[g] - idle_cpu[g]:.3f})")
        print(f"  whole machine idle {idle_cpu['machine']:.2f} | telemetry {busy_cpu['machine']:.2f} cores")
        print(f"  telemetry ingest: {busy_cpu['ingestor'] - idle_cpu['ingestor']:.1%} of one core for the ingestor, "
              f"{busy_cpu['ingestor'] + busy_cpu['postgres'] - idle_cpu['ingestor'] - idle_cpu['postgres']:.1%} "
              f"with PostgreSQL ({args.stations / 10:.0f} messages/s)")
    finally:
        for p in sims:
            p.join(60)
        if ingest:
            ingest.terminate()
            ingest.wait(10)
        if broker:
            broker.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def report(args: argparse.Namespace) -> None:
    from sqlalchemy import func, select

    from hub import db as hubdb
    from hub import reports
    from hub.models import Stamp
    url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{args.db}"
    sessions = hubdb.sessions(hubdb.make_engine(url))

    def timed(fn) -> list[float]:  # type: ignore[no-untyped-def]
        out = []
        for _ in range(args.rounds):
            with sessions() as s:
                t = time.perf_counter()
                fn(s)
                out.append(time.perf_counter() - t)
        return out

    with sessions() as s:
        n = s.scalar(select(func.count()).select_from(Stamp))
    print(f"database {args.db}: {n:,} stamps; {args.rounds} rounds each; {_load()}", flush=True)
    base = timed(lambda s: s.scalar(select(func.count()).select_from(Stamp)))
    rows: dict[str, list] = {}
    runs = {}
    for group in ("product", "district"):
        runs[group] = timed(lambda s, g=group: rows.__setitem__(g, reports.build(s, g, None, None, None).rows))
    runs["district, one month"] = timed(lambda s: reports.build(
        s, "district", reports.parse_day("2026-10-01"), reports.parse_day("2026-10-31"), None))
    b = sorted(base)[len(base) // 2]
    print(f"  baseline count(*) over stamp: median {b:.3f} s")
    for name, v in runs.items():
        m = sorted(v)[len(v) // 2]
        print(f"  report by {name:20} median {m:.3f} s, worst {max(v):.3f} s, ratio to count(*) {m / b:.2f}")
    print(f"  rows: product {len(rows['product'])}, district {len(rows['district'])}; {_load()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    d = sub.add_parser("dashboard")
    d.add_argument("--stations", type=int, default=1000)
    d.add_argument("--duration", type=float, default=40, help="seconds per phase (idle, telemetry)")
    d.add_argument("--every", type=float, default=0.5, help="seconds between page pairs")
    d.add_argument("--procs", type=int, default=2, help="simulator processes")
    r = sub.add_parser("report")
    r.add_argument("--db", default="tem_gen")
    r.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    dashboard(args) if args.what == "dashboard" else report(args)


if __name__ == "__main__":
    main()
