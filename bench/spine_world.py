"""A throwaway hub for the spine benchmarks: a database (SQLite file or a fresh
PostgreSQL database), seeded stations and stamps, and a running Mosquitto."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


from hub import db as hubdb
from hub.broker import Broker
from hub.models import Batch, Cooperative, Product
from hub.stamps import mint
from hub.stations import broker_accounts, register
from tem.codes import Keyring

GTIN = "08934567890120"
HUB_PASSWORD = "bench-hub-password"


@contextmanager
def hub_world(kind: str, stations: list[str], stamps: int = 1000) -> Iterator[tuple[str, Broker, dict, list[str], Path]]:
    """(database url, running broker, station passwords, minted serials, temp dir)."""
    with tempfile.TemporaryDirectory(prefix="tem-bench-") as d:
        tmp = Path(d)
        with hubdb.scratch_database(kind, tmp, "tem_bench") as url:
            engine = hubdb.make_engine(url)
            with hubdb.sessions(engine)() as s, s.begin():
                coop = Cooperative(name="HTX bench")
                s.add(coop)
                s.flush()
                product = Product(gtin=GTIN, name_vi="Sản phẩm thử", cooperative_id=coop.id)
                s.add(product)
                s.flush()
                s.add(Batch(product_id=product.id, lot="L1"))
                passwords = {sid: register(s, sid, "stall") for sid in stations}
                serials = mint(s, Keyring({"A": b"bench-key-0123456789"}), GTIN, stamps)
                accounts = broker_accounts(s, HUB_PASSWORD)
            engine.dispose()
            broker = Broker(tmp / "broker")
            broker.write(accounts)
            broker.start()
            try:
                yield url, broker, passwords, serials, tmp
            finally:
                broker.stop()
