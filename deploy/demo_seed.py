"""Seed a demo hub for docker-compose and the Procfile: one cooperative, product and
batch, and two simulated stations (a print line and a market stall) with their
config files and broker secrets. Safe to run again: registered stations keep their
secrets. Run after `tem db upgrade` and before `tem broker --write-only`.

Environment: DATABASE_URL, TEM_INSTANCE (as for `tem`), TEM_DEMO_DIR (station
configs and data), TEM_STATION_MQTT_HOST, TEM_STATION_MQTT_PORT, TEM_STATION_TLS_CA
(unset: plain MQTT), TEM_PUBLIC_HOST."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sqlalchemy import select

from hub import db as hubdb
from hub.keys import load_keyring
from hub.models import Batch, Cooperative, Product, Station
from hub.settings import Settings
from hub.stations import register

GTIN = "08934567890120"
LOT = "L" + dt.date.today().strftime("%Y%m%d")

MQTT = """[mqtt]
host = "{host}"
port = {port}
{tls}"""

STATIONS = {
    "line-1": ("print", """station_id = "line-1"
kind = "print"
data_dir = "{data}/line-1"
hub_host = "{public}"
place = "HTX Kỳ Như, Vị Thanh, Hậu Giang"
telemetry_interval_s = 5
{mqtt}
[product]
gtin = "{gtin}"
name = "Cá thát lát rút xương"
producer = "HTX Kỳ Như"
lot = "{lot}"
[printer]
driver = "file"
template = "62x29"
[printing]
activate_on_print = true
simulate_every_s = 2
"""),
    "stall-1": ("stall", """station_id = "stall-1"
kind = "stall"
data_dir = "{data}/stall-1"
place = "Chợ Vị Thanh, sạp 12"
telemetry_interval_s = 5
{mqtt}
[camera]
source = "replay"
device = "{data}/line-1/labels"
fps = 0.5
"""),
}


def main() -> None:
    settings = Settings.from_env()
    settings.instance.mkdir(parents=True, exist_ok=True)
    load_keyring(settings.instance / "keys.json")  # create it now, not in two ingestors at once
    data = Path(os.environ.get("TEM_DEMO_DIR", "demo-data")).resolve()
    ca = os.environ.get("TEM_STATION_TLS_CA", "")
    mqtt = MQTT.format(host=os.environ.get("TEM_STATION_MQTT_HOST", "127.0.0.1"),
                       port=int(os.environ.get("TEM_STATION_MQTT_PORT", settings.mqtt_port)),
                       tls=f'tls_ca = "{ca}"\n' if ca else "")
    sessions = hubdb.sessions(hubdb.make_engine(settings.database_url))
    with sessions() as s, s.begin():
        product = s.scalars(select(Product).where(Product.gtin == GTIN)).first()
        if product is None:
            coop = Cooperative(name="HTX Kỳ Như", address="Ấp 3, xã Vị Tân, TP Vị Thanh",
                               province="Hậu Giang", district="Vị Thanh")
            s.add(coop)
            s.flush()
            product = Product(gtin=GTIN, name_vi="Cá thát lát rút xương", name_en="Boneless clown featherback",
                              category="thủy sản", cooperative_id=coop.id)
            s.add(product)
            s.flush()
        if not s.scalars(select(Batch).where(Batch.product_id == product.id, Batch.lot == LOT)).first():
            s.add(Batch(product_id=product.id, lot=LOT, packed_on=dt.date.today(), place="Vị Thanh, Hậu Giang"))
        for sid, (kind, template) in STATIONS.items():
            sdir = data / sid
            sdir.mkdir(parents=True, exist_ok=True)
            secret = sdir / "mqtt.secret"
            if s.get(Station, sid) is None or not secret.exists():
                password = register(s, sid, kind, product_id=product.id if kind == "print" else None,
                                    cooperative_id=product.cooperative_id)
                secret.write_text(password)
                secret.chmod(0o600)
            (data / f"{sid}.toml").write_text(template.format(
                data=data, public=settings.public_host, mqtt=mqtt, gtin=GTIN, lot=LOT))
    print(f"demo seeded: stations {', '.join(STATIONS)} (configs in {data})")


if __name__ == "__main__":
    main()
