"""Seed a demo hub for docker-compose and the Procfile (hub.demo.seed, as `tem demo`):
one cooperative, product and batch, and two simulated stations (a print line and a
market stall) with their config files and broker secrets. Safe to run again: registered
stations keep their secrets. Run after `tem db upgrade` and before `tem broker --write-only`.

Environment: DATABASE_URL, TEM_INSTANCE (as for `tem`), TEM_DEMO_DIR (station
configs and data), TEM_STATION_MQTT_HOST, TEM_STATION_MQTT_PORT, TEM_STATION_TLS_CA
(unset: plain MQTT), TEM_PUBLIC_HOST."""
from __future__ import annotations

import os
from pathlib import Path

from hub.demo import STATIONS, seed
from hub.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    data = Path(os.environ.get("TEM_DEMO_DIR", "demo-data")).resolve()
    seed(settings, data, os.environ.get("TEM_STATION_MQTT_HOST", "127.0.0.1"),
         int(os.environ.get("TEM_STATION_MQTT_PORT", settings.mqtt_port)), os.environ.get("TEM_STATION_TLS_CA", ""))
    print(f"demo seeded: stations {', '.join(STATIONS)} (configs in {data})")


if __name__ == "__main__":
    main()
