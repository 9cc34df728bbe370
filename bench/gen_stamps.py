"""Fill a PostgreSQL hub database with a realistic year of stamps, fast (COPY, not the ORM):
by default 10 million stamps over 2,000 batches of 500 products from 100 cooperatives.

Each batch's stamps were printed as one block (consecutive numbers) and activated on the
line; most are active, some sold at market stalls, a few voided or never activated. About a
fifth were checked 1-3 times by consumers (web) or stalls. Events per stamp: printed,
activated, checks, sold/voided: ~2.5 on average.

    .venv/bin/python bench/gen_stamps.py --stamps 2000000 --db tem_gen   # creates the database
    .venv/bin/python bench/gen_stamps.py --drop --db tem_gen

The schema comes from the hub's migrations; the secondary indexes of the two big tables are
dropped for the load and rebuilt after it (same definitions), which is ~3x faster."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hub import db as hubdb  # noqa: E402
from tem import gs1  # noqa: E402
from tem.codes import Keyring  # noqa: E402

PG_ADMIN = os.environ.get("TEM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
KEYRING = Keyring({"A": b"bench-key-0123456789abcdef"})
NULL = "\\N"  # COPY's text-format NULL
CHUNK = 50_000  # stamps per COPY round
PROVINCES = [("Hậu Giang", 9.78, 105.47), ("Cần Thơ", 10.03, 105.77), ("Hà Nội", 21.03, 105.85),
             ("TP Hồ Chí Minh", 10.78, 106.70), ("Đà Nẵng", 16.05, 108.20), ("Lâm Đồng", 11.94, 108.44),
             ("Sơn La", 21.33, 103.91), ("Đắk Lắk", 12.67, 108.04), ("Bến Tre", 10.24, 106.38),
             ("An Giang", 10.52, 105.13)]
# share of stamps per final state, and of stamps checked at least once
STATES = (("active", 0.85), ("sold", 0.10), ("void", 0.02), ("printed", 0.03))
CHECKED_SHARE = 0.2
STALLS = 300
T0 = dt.datetime(2025, 12, 1, 1, 0, tzinfo=dt.timezone.utc)


@dataclass
class Generated:
    db_url: str  # postgresql+psycopg:// for the hub
    stamps: int
    events: int
    seconds: float
    paths: list[str]  # a sample of stamp URLs (path only), active or sold


def _gtin(i: int) -> str:
    body = f"893850{i:06d}"
    return (body + str(gs1.check_digit(body))).zfill(14)


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _reference_rows(cur: psycopg.Cursor, coops: int, products: int, batches: int, rng: random.Random) -> list[tuple]:
    """Cooperatives, stations, products, certificates, batches, diary. Returns (id, gtin, packed) per batch."""
    for c in range(1, coops + 1):
        prov, lat, lon = PROVINCES[c % len(PROVINCES)]
        cur.execute("INSERT INTO cooperative (id, name, address, province, district, phone, lat, lon) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (c, f"HTX Nông nghiệp số {c}", f"Ấp {c % 9 + 1}, xã {c}", prov, f"Huyện {c % 7 + 1}",
                     f"0293 38{c:05d}", lat + rng.uniform(-0.3, 0.3), lon + rng.uniform(-0.3, 0.3)))
        for kind, prefix in (("print", "pr"), ("activation", "act")):
            cur.execute("INSERT INTO station (id, kind, name, place, province, cooperative_id, broker_hash, online, "
                        "lat, lon) VALUES (%s, %s, %s, %s, %s, %s, '', false, %s, %s)",
                        (f"{prefix}-{c}", kind, f"{kind} {c}", f"Xưởng HTX {c}", prov, c, lat, lon))
    for s in range(1, STALLS + 1):
        prov, lat, lon = PROVINCES[s % len(PROVINCES)]
        cur.execute("INSERT INTO station (id, kind, name, place, province, broker_hash, online, lat, lon) "
                    "VALUES (%s, 'stall', %s, %s, %s, '', false, %s, %s)",
                    (f"stall-{s}", f"Sạp số {s}", f"Chợ {s % 40 + 1}, {prov}", prov,
                     lat + rng.uniform(-0.1, 0.1), lon + rng.uniform(-0.1, 0.1)))
    for p in range(1, products + 1):
        cur.execute("INSERT INTO product (id, gtin, name_vi, name_en, category, cooperative_id) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (p, _gtin(p), f"Sản phẩm số {p}", f"Product {p}", "nông sản", 1 + (p - 1) % coops))
        cur.execute("INSERT INTO certificate (product_id, kind, number, issuer, valid_from, valid_to) "
                    "VALUES (%s, 'vietgap', %s, 'Chi cục Trồng trọt', '2025-01-01', '2027-12-31')",
                    (p, f"VG-{p:05d}"))
        if p % 3 == 0:
            cur.execute("INSERT INTO certificate (product_id, kind, number, stars, issuer, valid_from, valid_to) "
                        "VALUES (%s, 'ocop', '', %s, 'UBND tỉnh', '2024-06-01', '2027-06-01')", (p, 3 + p % 3))
    out = []
    for b in range(1, batches + 1):
        p = 1 + (b - 1) % products
        packed = (T0 + dt.timedelta(days=(b * 365) // batches)).date()
        cur.execute("INSERT INTO batch (id, product_id, lot, packed_on, expires_on, quantity, place) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (b, p, f"L{packed:%y%m}{b:05d}", packed, packed + dt.timedelta(days=180), None, "Xưởng đóng gói"))
        stages = [("planting", -120), ("harvest", -5), ("processing", -2), ("packing", 0)]
        if b % 2:
            stages.append(("transport", 1))
        cur.executemany("INSERT INTO diary_entry (batch_id, stage, day, note, who, place, recorded_by, created_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, now())",
                        [(b, stage, packed + dt.timedelta(days=d), f"{stage} lô {b}", "Tổ sản xuất", "Khu A",
                          "person" if stage in ("planting", "harvest") else "device") for stage, d in stages])
        out.append((b, _gtin(p), packed, 1 + (p - 1) % coops))
    for table in ("cooperative", "product", "batch"):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return out


def _secondary_indexes(cur: psycopg.Cursor) -> list[tuple[str, str]]:
    cur.execute("SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN ('stamp', 'event') "
                "AND i.schemaname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conname = i.indexname)")
    return cur.fetchall()


def generate(stamps: int, dbname: str, *, batches: int = 2000, products: int = 500, coops: int = 100,
             seed: int = 1, sample: int = 20_000, log=print) -> Generated:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{dbname}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    url = base.replace("postgresql://", "postgresql+psycopg://") + f"/{dbname}"
    hubdb.upgrade(url)
    t0 = time.perf_counter()
    n_events = 0
    paths: list[str] = []
    with psycopg.connect(f"{base}/{dbname}") as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        ref = _reference_rows(cur, coops, products, batches, rng)
        indexes = _secondary_indexes(cur)
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        conn.commit()
        per_batch, extra = divmod(stamps, batches)
        weights = [w for _, w in STATES]
        names = [s for s, _ in STATES]
        keep_every = max(1, stamps // sample)
        n = 0
        stamp_buf: list[str] = []
        event_buf: list[str] = []

        def flush() -> None:
            with cur.copy("COPY stamp (id, serial, gtin, state, batch_id, station_id, issued_at, printed_at, "
                          "activated_at, sold_at, void_reason, checks) FROM STDIN") as cp:
                cp.write("".join(stamp_buf))
            with cur.copy("COPY event (id, station_id, seq, type, serial, at, received_at, applied, body) "
                          "FROM STDIN") as cp:
                cp.write("".join(event_buf))
            conn.commit()
            stamp_buf.clear()
            event_buf.clear()

        seqs: dict[str, int] = {}
        outlets: set[tuple[int, str]] = set()  # batch_outlet: stalls that checked or sold the batch's stamps

        def event(station: str, kind: str, serial: str, at: dt.datetime, **body: object) -> None:
            seqs[station] = seq = seqs.get(station, 0) + 1
            iso = at.isoformat()
            payload = _esc(json.dumps({"v": 1, "type": kind, "station": station, "serial": serial, "at": iso,
                                       **body}, ensure_ascii=False))
            event_buf.append(f"{uuid.UUID(bytes=rng.randbytes(16), version=4)}\t{station}\t{seq}\t{kind}\t"
                             f"{serial}\t{iso}\t{iso}\tt\t{payload}\n")

        for b_index, (batch_id, gtin, packed, coop) in enumerate(ref):
            count = per_batch + (1 if b_index < extra else 0)
            printed_at = dt.datetime.combine(packed, dt.time(1, 0), dt.timezone.utc)
            states = rng.choices(names, weights, k=count)
            for state in states:
                n += 1
                serial = KEYRING.mint(n, gtin)
                at = printed_at + dt.timedelta(seconds=n % 3600)
                activated = at + dt.timedelta(minutes=20) if state != "printed" else None
                event(f"pr-{coop}", "printed", serial, at, gtin=gtin)
                if activated:
                    event(f"act-{coop}", "activated", serial, activated, gtin=gtin)
                checks = 0
                if state != "printed" and rng.random() < CHECKED_SHARE:
                    checks = rng.choice((1, 1, 1, 2, 3))
                    for k in range(checks):
                        when = activated + dt.timedelta(days=rng.randint(2, 60), minutes=k)  # type: ignore[operator]
                        if rng.random() < 0.3:
                            stall = f"stall-{rng.randint(1, STALLS)}"
                            event(stall, "checked", serial, when)
                            outlets.add((batch_id, stall))
                        else:
                            event("web", "checked", serial, when, verdict="active")
                sold_at = void_reason = None
                if state == "sold":
                    sold_at = activated + dt.timedelta(days=rng.randint(3, 90))  # type: ignore[operator]
                    stall = f"stall-{1 + (batch_id * 7 + n % 5) % STALLS}"
                    event(stall, "sold", serial, sold_at)
                    outlets.add((batch_id, stall))
                elif state == "void":
                    void_reason = rng.choice(("damaged", "misprint", "recalled"))
                    event(f"pr-{coop}", "voided", serial, at + dt.timedelta(hours=1), reason=void_reason)
                row = (n, serial, gtin, state, batch_id, f"pr-{coop}", at.isoformat(), at.isoformat(),
                       activated.isoformat() if activated else NULL, sold_at.isoformat() if sold_at else NULL,
                       void_reason or NULL, checks)
                stamp_buf.append("\t".join(map(str, row)) + "\n")
                if state in ("active", "sold") and n % keep_every == 0:
                    paths.append(f"/01/{gtin}/21/{serial}")
                if len(stamp_buf) >= CHUNK:
                    n_events += len(event_buf)
                    flush()
                    if n % (CHUNK * 20) == 0:
                        log(f"  {n:,} stamps, {n_events:,} events, {time.perf_counter() - t0:.0f} s")
        n_events += len(event_buf)
        flush()
        with cur.copy("COPY batch_outlet (batch_id, station_id) FROM STDIN") as cp:
            cp.write("".join(f"{b}\t{st}\n" for b, st in sorted(outlets)))
        cur.execute(f"SELECT setval(pg_get_serial_sequence('stamp', 'id'), {n})")
        cur.execute("INSERT INTO counter (name, value) VALUES ('stamp', %s)", (n,))
        conn.commit()
        t_load = time.perf_counter() - t0
        for name, definition in indexes:
            log(f"  building {name}")
            cur.execute(definition)
            conn.commit()
    with psycopg.connect(f"{base}/{dbname}", autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) stamp")
        conn.execute("VACUUM (ANALYZE) event")
        conn.execute("ANALYZE")
    seconds = time.perf_counter() - t0
    log(f"generated {n:,} stamps and {n_events:,} events in {seconds:.0f} s (COPY {t_load:.0f} s, "
        f"indexes and analyze {seconds - t_load:.0f} s)")
    return Generated(url, n, n_events, seconds, paths)


def drop(dbname: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stamps", type=int, default=10_000_000)
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--products", type=int, default=500)
    ap.add_argument("--coops", type=int, default=100)
    ap.add_argument("--db", default="tem_gen")
    ap.add_argument("--drop", action="store_true", help="drop the database and exit")
    args = ap.parse_args()
    if args.drop:
        drop(args.db)
        return
    g = generate(args.stamps, args.db, batches=args.batches, products=args.products, coops=args.coops)
    with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{args.db}") as conn:
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]  # type: ignore[index]
    print(f"database {args.db}: {size}; {g.db_url}")


if __name__ == "__main__":
    main()
