"""A station process for fault tests: records N `checked` events at a steady rate
through the real outbox and link, carrying on after a restart, and exits once the
hub has acknowledged all N. Usage: python -m tests.load_station CONFIG N RATE SERIALS_FILE"""
from __future__ import annotations

import faulthandler
import logging
import signal
import random
import sys
import time

from station import config as station_config
from station.link import Link
from station.outbox import Outbox


def main() -> None:
    path, total, rate, serials_file = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    faulthandler.register(signal.SIGUSR1)  # a stuck station can be asked for its stacks
    cfg = station_config.load(path)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    serials = open(serials_file).read().split()
    outbox = Outbox(cfg.data_dir / "outbox.db", cfg.station_id)
    link = Link(cfg, outbox)
    link.start()
    next_at = time.monotonic()
    while outbox.recorded() < total:
        outbox.append("checked", serial=random.choice(serials))
        link.wake()
        next_at += 1 / rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    while outbox.backlog():
        logging.info("waiting for acks: %d of %d unacknowledged", outbox.backlog(), total)
        time.sleep(1)
    link.stop()


if __name__ == "__main__":
    main()
