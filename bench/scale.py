"""Scale simulation: 1,000 simulated stations through one Mosquitto into PostgreSQL
with 2 and 4 `tem ingest` processes, on loopback.

Each simulated station is one paho MQTT v5 client with its own broker login (the
hub's generated password file and ACL), sending events in Tem's real wire format
(tem.messages), keeping them until the hub's ack arrives and resending on ack
silence like station.link, plus telemetry every 10 s and a retained online state
with a will. Print stations print and activate their own minted serials; stall
stations check stamps from a pool of active ones. No outbox on disk per station:
that is the station's cost, measured in DESIGN.md, not the hub's.

Reports offered vs delivered events (rows in the event table), events/s,
end-to-end latency (station send -> ack received; event `at` -> row received_at),
CPU of mosquitto, PostgreSQL, the ingestors and the simulators, and a verdict on
the bottleneck.

    .venv/bin/python bench/scale.py                       # 1000 stations, 2000 ev/s, 2 and 4 ingestors
    .venv/bin/python bench/scale.py --rate 500 --duration 20 --ingestors 2
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_ADMIN = os.environ.get("TEM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
GTIN = "08934567890120"
LOT = "L1"
HUB_PASSWORD = "scale-hub-password"
TELEMETRY_EVERY_S = 10.0
RESEND_AFTER_S = 10.0


# -- simulated stations (child processes) ------------------------------------------------------

class SimStation:
    """One station's MQTT side: events in flight until acked, telemetry, state."""

    def __init__(self, sid: str, password: str, kind: str, serials: list[str], port: int, stats: dict):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from tem import messages, topics
        self.sid, self.kind, self.serials, self.port = sid, kind, serials, port
        self.stats = stats
        self.seq = 0
        self.next_serial = 0
        self.pending: dict[str, tuple[float, bytes]] = {}  # id -> (first send, payload)
        self.last_send = 0.0
        self.last_ack = 0.0
        self.last_resend_round = 0.0
        self.resend_wait = RESEND_AFTER_S
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.t = {k: topics.topic(sid, k) for k in topics.KINDS}
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=sid, protocol=mqtt.MQTTv5)
        c.username_pw_set(sid, password)
        c.will_set(self.t["state"], messages.StateMessage(state="offline").dump(), qos=1, retain=True)
        c.max_inflight_messages_set(100)
        c.reconnect_delay_set(min_delay=1, max_delay=15)
        c.on_connect = self.on_connect
        c.on_disconnect = lambda *a: self.connected.clear()
        c.on_message = self.on_message
        self.client = c
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self._connect_props = props

    def start(self) -> None:
        """Connect (blocking); the worker's select() loop drives the socket from here on."""
        self.client.connect("127.0.0.1", self.port, 30, clean_start=False, properties=self._connect_props)

    def on_connect(self, client, _u, _f, reason, _p) -> None:  # type: ignore[no-untyped-def]
        from tem import messages
        if reason.is_failure:
            self.stats["refused"] += 1
            return
        client.subscribe(self.t["ack"], qos=1)
        client.publish(self.t["state"], messages.StateMessage(state="online", software="scale-sim").dump(),
                       qos=1, retain=True)
        self.connected.set()

    def on_message(self, _c, _u, msg) -> None:  # type: ignore[no-untyped-def]
        from tem import messages
        now = time.time()
        ids = [str(i) for i in messages.parse(messages.Ack, msg.payload).ids]
        with self.lock:
            for i in ids:
                entry = self.pending.pop(i, None)
                if entry is not None:
                    self.stats["latencies"].append(now - entry[0])
                    self.stats["acked"] += 1
            self.last_ack = now
            self.resend_wait = RESEND_AFTER_S

    def next_event(self, pool: list[str]) -> tuple[str, bytes]:
        """(id, payload) of the next event in Tem's wire format. Built with json.dumps, not
        through the pydantic models: the simulators stand in for remote devices, so their CPU
        here is only an artefact of sharing the machine; the hub still validates every event."""
        self.seq += 1
        event_id = str(uuid.uuid4())
        base = {"v": 1, "id": event_id, "seq": self.seq, "station": self.sid,
                "at": dt.datetime.now(dt.UTC).isoformat()}
        if self.kind == "print":
            serial = self.serials[(self.next_serial // 2) % len(self.serials)]
            if self.next_serial % 2 == 0:
                data = {**base, "type": "printed", "serial": serial, "gtin": GTIN, "lot": LOT, "template": "62x29"}
            else:
                data = {**base, "type": "activated", "serial": serial, "gtin": GTIN, "lot": LOT}
            self.next_serial += 1
        else:
            data = {**base, "type": "checked", "serial": random.choice(pool), "place": "Chợ Vị Thanh",
                    "verdict": "genuine"}
        return event_id, json.dumps(data, ensure_ascii=False).encode()

    def send_event(self, pool: list[str]) -> None:
        event_id, payload = self.next_event(pool)
        now = time.time()
        with self.lock:
            self.pending[event_id] = (now, payload)
            self.last_send = now
        self.stats["offered"] += 1
        self.client.publish(self.t["evt"], payload, qos=1)

    def send_telemetry(self) -> None:
        from tem import messages
        tele = messages.Telemetry(at=messages.now(), outbox=len(self.pending), queue=0,
                                  printer="ready" if self.kind == "print" else None,
                                  paper="ok" if self.kind == "print" else None,
                                  codes_left=10_000 if self.kind == "print" else None,  # no top-up minting
                                  cpu_temp=48.5, uptime_s=100.0)
        self.client.publish(self.t["tele"], tele.dump(), qos=0)
        self.stats["telemetry"] += 1

    def resend_stale(self, now: float) -> None:
        """Like station.link: when the hub has acknowledged nothing for a while, send the
        unacknowledged events again, and wait twice as long before the next round."""
        with self.lock:
            if not self.pending or now - max(self.last_ack, self.last_resend_round) < self.resend_wait:
                return
            oldest = min(t0 for t0, _ in self.pending.values())
            if now - oldest < self.resend_wait:
                return
            stale = [p for t0, p in self.pending.values() if now - t0 >= self.resend_wait]
            self.last_resend_round = now
            self.resend_wait = min(self.resend_wait * 2, 120)
        for payload in stale:
            self.client.publish(self.t["evt"], payload, qos=1)
            self.stats["resent"] += 1

    def stop(self) -> None:
        from tem import messages
        if self.connected.is_set():
            self.client.publish(self.t["state"], messages.StateMessage(state="offline").dump(), qos=1, retain=True)
        self.client.disconnect()


def pump(sims: list[SimStation], timeout: float) -> None:
    """One round of network I/O for all clients of this process (poll: no FD_SETSIZE limit)."""
    by_fd = {}
    poller = select.poll()
    for s in sims:
        sock = s.client.socket()
        if sock is not None:
            fd = sock.fileno()
            by_fd[fd] = s
            poller.register(fd, select.POLLIN | (select.POLLOUT if s.client.want_write() else 0))
    for fd, mask in poller.poll(timeout * 1000):
        client = by_fd[fd].client
        if mask & (select.POLLIN | select.POLLERR | select.POLLHUP):
            client.loop_read(100)
        if mask & select.POLLOUT:
            client.loop_write()


def housekeeping(sims: list[SimStation], last: float) -> float:
    """Once a second: resend what the hub left unacknowledged, and keepalive pings."""
    now = time.monotonic()
    if now - last <= 1:
        return last
    t = time.time()
    for s in sims:
        s.resend_stale(t)
        s.client.loop_misc()
    return now


def sim_worker(stations: list[tuple[str, str, str, list[str]]], pool: list[str], port: int, rate: float,
               duration: float, drain: float, go: mp.Event, ready: mp.Queue, results: mp.Queue) -> None:
    """Run a share of the stations at `rate` events/s in total; report counts and latencies."""
    stats = {"offered": 0, "acked": 0, "resent": 0, "telemetry": 0, "refused": 0, "latencies": []}
    sims = [SimStation(sid, pw, kind, serials, port, stats) for sid, pw, kind, serials in stations]
    for i, s in enumerate(sims):
        s.start()
        pump(sims[: i + 1], 0)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not all(s.connected.is_set() for s in sims):
        pump(sims, 0.05)
    ready.put(sum(s.connected.is_set() for s in sims))
    last_misc = time.monotonic()
    while not go.is_set():
        pump(sims, 0.05)
        if time.monotonic() - last_misc > 1:
            for s in sims:
                s.client.loop_misc()  # keepalive pings
            last_misc = time.monotonic()
    start = time.monotonic()
    n = len(sims)
    tele_offsets = [random.uniform(0, TELEMETRY_EVERY_S) for _ in sims]
    tele_sent = [0] * n
    sent = 0
    turn = 0
    last_resend = start
    while (elapsed := time.monotonic() - start) < duration:
        due = int(rate * elapsed) - sent
        for _ in range(due):
            sims[turn % n].send_event(pool)  # round robin: every station at rate/n
            turn += 1
        sent += max(due, 0)
        for i in range(n):
            if elapsed >= tele_offsets[i] + tele_sent[i] * TELEMETRY_EVERY_S:
                sims[i].send_telemetry()
                tele_sent[i] += 1
        last_resend = housekeeping(sims, last_resend)
        pump(sims, 0.005)
    sent_for = time.monotonic() - start
    drain_end = time.monotonic() + drain
    while time.monotonic() < drain_end and any(s.pending for s in sims):
        pump(sims, 0.05)
        last_resend = housekeeping(sims, last_resend)
    unacked = sum(len(s.pending) for s in sims)
    for s in sims:
        s.stop()
    pump(sims, 0.2)
    results.put({**stats, "unacked": unacked, "sent_for": sent_for})


# -- the hub side ---------------------------------------------------------------------------

def seed(url: str, stations: int, print_share: float, serials_each: int, pool_size: int):
    from sqlalchemy import update

    from hub import db as hubdb
    from hub.models import Batch, Cooperative, Product, Stamp
    from hub.stamps import mint
    from hub.stations import broker_accounts, register
    from tem.codes import Keyring
    keyring = Keyring({"A": b"scale-bench-key-0123456789"})
    hubdb.upgrade(url)
    sessions = hubdb.sessions(hubdb.make_engine(url))
    plan = []
    with sessions() as s, s.begin():
        coop = Cooperative(name="HTX Kỳ Như", province="Hậu Giang", district="Vị Thanh")
        s.add(coop)
        s.flush()
        product = Product(gtin=GTIN, name_vi="Cá thát lát rút xương", cooperative_id=coop.id)
        s.add(product)
        s.flush()
        batch = Batch(product_id=product.id, lot=LOT)
        s.add(batch)
        s.flush()
        n_print = int(stations * print_share)
        for i in range(stations):
            kind = "print" if i < n_print else "stall"
            sid = f"{'line' if kind == 'print' else 'stall'}-{i:04d}"
            pw = register(s, sid, kind, product_id=product.id if kind == "print" else None,
                          cooperative_id=coop.id)
            serials = mint(s, keyring, GTIN, serials_each, sid) if kind == "print" else []
            plan.append((sid, pw, kind, serials))
        pool = mint(s, keyring, GTIN, pool_size)
        s.execute(update(Stamp).where(Stamp.serial.in_(pool)).values(
            state="active", batch_id=batch.id, activated_at=dt.datetime.now(dt.UTC)))
        accounts = broker_accounts(s, HUB_PASSWORD)
    return plan, pool, accounts


class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop()."""

    def __init__(self, groups: dict[str, callable]):  # type: ignore[valid-type]
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}
        self.after: dict[str, dict[int, float]] = {}

    @staticmethod
    def _snap(procs) -> dict[int, float]:  # type: ignore[no-untyped-def]
        out = {}
        for p in procs:
            try:
                t = p.cpu_times()
            except Exception:  # noqa: BLE001, S112 - a backend that exited between listing and reading
                continue
            out[p.pid] = t.user + t.system
        return out

    def start(self) -> None:
        import psutil
        self.t0 = time.monotonic()
        self.machine0 = psutil.cpu_times()
        self.before = {g: self._snap(f()) for g, f in self.groups.items()}

    def stop(self) -> dict[str, float]:
        import psutil
        self.after = {g: self._snap(f()) for g, f in self.groups.items()}
        wall = time.monotonic() - self.t0
        m1 = psutil.cpu_times()
        busy = lambda t: t.user + t.system + t.nice + getattr(t, "irq", 0) + getattr(t, "softirq", 0)
        out = {g: sum(v - self.before[g].get(pid, 0.0) for pid, v in self.after[g].items()) / wall
               for g in self.groups}
        out["machine"] = (busy(m1) - busy(self.machine0)) / wall
        return out


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_once(n_ingestors: int, args: argparse.Namespace) -> dict:
    import psutil
    import psycopg

    name = f"tem_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="tem-scale-"))
    procs: list[subprocess.Popen] = []
    broker = None
    try:
        t0 = time.monotonic()
        serials_each = int(args.duration * args.rate / args.stations / 2) + 10
        plan, pool, accounts = seed(url, args.stations, args.print_share, serials_each, args.pool)
        seeded = time.monotonic() - t0
        from hub.broker import Broker
        broker = Broker(tmp / "broker", autosave_interval=args.autosave)
        broker.write(accounts)
        broker.start()
        env = {**os.environ, "DATABASE_URL": url, "TEM_INSTANCE": str(tmp / "instance"),
               "TEM_BROKER_PORT": str(broker.port), "TEM_HUB_MQTT_PASSWORD": HUB_PASSWORD,
               # The offline-data sync of scan stations (hub/autosync.py) is measured on its own:
               # here 600 stalls coming online at once would each get a full sync of the area.
               "TEM_SYNC_PERIOD_S": os.environ.get("TEM_SYNC_PERIOD_S", "0")}
        env.pop("MQTT_URL", None)
        tem = str(Path(sys.executable).parent / "tem")
        logs = []
        for i in range(n_ingestors):
            log = tmp / f"ingest-{i}.log"
            logs.append(log)
            with open(log, "wb") as out:
                procs.append(subprocess.Popen([tem, "ingest"], env=env, stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                "ingestor connected" in log.read_text(errors="replace") for log in logs if log.exists()):
            time.sleep(0.2)
        ctx = mp.get_context("spawn")
        go, ready, results = ctx.Event(), ctx.Queue(), ctx.Queue()
        shares = [plan[i::args.procs] for i in range(args.procs)]
        sims = [ctx.Process(target=sim_worker, args=(share, pool, broker.port, args.rate * len(share) / len(plan),
                                                       args.duration, args.drain, go, ready, results))
                for share in shares]
        for p in sims:
            p.start()
        connected = sum(ready.get(timeout=180) for _ in sims)
        ingest_pids = [p.pid for p in procs]
        sim_pids = [p.pid for p in sims]
        meter = CpuMeter({
            "mosquitto": lambda: [psutil.Process(broker.proc.pid)],
            "postgres": lambda: [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"],
            "ingestors": lambda: [psutil.Process(pid) for pid in ingest_pids],
            "simulators": lambda: [psutil.Process(pid) for pid in sim_pids],
        })
        meter.start()
        wall0 = dt.datetime.now(dt.UTC)
        go.set()
        time.sleep(args.duration)
        cpu = meter.stop()
        stats = [results.get(timeout=args.drain + 120) for _ in sims]
        for p in sims:
            p.join(30)
        time.sleep(1)
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            rows, p50, p99, pmax = conn.execute(
                """SELECT count(*),
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - at)),
                          percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - at)),
                          max(extract(epoch FROM received_at - at)) FROM event""").fetchone()
            stored_in_window = conn.execute(
                "SELECT count(*) FROM event WHERE received_at BETWEEN %s AND %s",
                (wall0, wall0 + dt.timedelta(seconds=args.duration))).fetchone()[0]
            refused = conn.execute("SELECT count(*) FROM event WHERE NOT applied").fetchone()[0]
            quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
            tele_rows = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
        lat = [x for s in stats for x in s["latencies"]]
        offered = sum(s["offered"] for s in stats)
        sent_for = max(s["sent_for"] for s in stats)
        return {
            "ingestors": n_ingestors, "stations": args.stations, "connected": connected, "seed_s": seeded,
            "offered": offered, "delivered": rows, "acked": sum(s["acked"] for s in stats),
            "unacked": sum(s["unacked"] for s in stats), "resent": sum(s["resent"] for s in stats),
            "refused": refused, "quarantined": quarantined, "telemetry_sent": sum(s["telemetry"] for s in stats),
            "telemetry_rows": tele_rows, "offered_per_s": offered / sent_for,
            "stored_in_window_per_s": stored_in_window / args.duration,
            # CPU-seconds per 1000 stored events: holds on a shared machine where wall-clock rates do not
            "cost_per_1000": {g: cpu[g] * args.duration / max(stored_in_window, 1) * 1000
                              for g in ("mosquitto", "postgres", "ingestors", "simulators")},
            "ack_p50": percentile(lat, 0.5), "ack_p99": percentile(lat, 0.99), "ack_max": max(lat or [0]),
            "db_p50": p50, "db_p99": p99, "db_max": pmax, "cpu": cpu,
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if broker:
            broker.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def bottleneck(r: dict, n_cores: int) -> str:
    cpu = r["cpu"]
    if cpu["machine"] > 0.85 * n_cores:
        top = max(("mosquitto", "postgres", "ingestors", "simulators"), key=lambda g: cpu[g])
        return f"machine CPU saturated ({cpu['machine']:.2f} of {n_cores} cores); largest share: {top}"
    if cpu["mosquitto"] > 0.85:
        return "mosquitto (single-threaded) near one full core"
    if cpu["ingestors"] > 0.85 * r["ingestors"]:
        return "ingestors CPU-bound (each is one Python process)"
    return "none saturated: offered load is below capacity"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=2000, help="events/s offered by all stations together")
    ap.add_argument("--duration", type=float, default=45, help="seconds of steady load per run")
    ap.add_argument("--drain", type=float, default=60, help="seconds to wait for the last acks")
    ap.add_argument("--ingestors", default="2,4", help="comma-separated ingestor counts, one run each")
    ap.add_argument("--procs", type=int, default=4, help="simulator processes")
    ap.add_argument("--print-share", type=float, default=0.4, help="share of print stations (the rest are stalls)")
    ap.add_argument("--pool", type=int, default=20_000, help="active stamps the stalls check")
    ap.add_argument("--autosave", type=int, default=2,
                    help="seconds between Mosquitto persistence saves (as `tem broker --autosave`)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    n_cores = os.cpu_count() or 1
    out = []
    print(f"{args.stations} stations ({args.print_share:.0%} print, rest stall), {args.rate:.0f} events/s offered "
          f"for {args.duration:.0f} s + telemetry every {TELEMETRY_EVERY_S:.0f} s; {args.procs} simulator "
          f"processes; {n_cores} cores", flush=True)
    for n in [int(x) for x in args.ingestors.split(",")]:
        r = run_once(n, args)
        out.append(r)
        c = r["cpu"]
        print(f"\ningestors {n}: connected {r['connected']}/{r['stations']}, seeded in {r['seed_s']:.1f} s")
        print(f"  offered {r['offered']} events ({r['offered_per_s']:.0f}/s), delivered {r['delivered']} "
              f"(ratio {r['delivered'] / max(r['offered'], 1):.4f}), acked {r['acked']}, unacked {r['unacked']}, "
              f"resent {r['resent']}, refused {r['refused']}, quarantined {r['quarantined']}")
        print(f"  stored during the window: {r['stored_in_window_per_s']:.0f} events/s; telemetry "
              f"{r['telemetry_sent']} sent, {r['telemetry_rows']} stored (QoS 0)")
        print(f"  latency send->ack p50 {r['ack_p50']:.3f} s p99 {r['ack_p99']:.3f} s max {r['ack_max']:.3f} s; "
              f"at->received_at p50 {r['db_p50']:.3f} s p99 {r['db_p99']:.3f} s")
        print(f"  CPU (cores): mosquitto {c['mosquitto']:.2f}, postgres {c['postgres']:.2f}, ingestors "
              f"{c['ingestors']:.2f}, simulators {c['simulators']:.2f}, whole machine {c['machine']:.2f}/{n_cores}")
        k = r["cost_per_1000"]
        need = sum(k.values()) - k["simulators"]
        print(f"  CPU-seconds per 1000 stored events: mosquitto {k['mosquitto']:.3f}, postgres {k['postgres']:.3f}, "
              f"ingestors {k['ingestors']:.3f} -> the hub side needs {need * args.rate / 1000:.2f} cores "
              f"for {args.rate:.0f} events/s; other tenants used {c['machine'] - sum(c[g] for g in k):.2f} cores")
        print(f"  bottleneck: {bottleneck(r, n_cores)}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
