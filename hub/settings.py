"""Hub settings from the environment, with embedded defaults for a laptop or the demo.
Secrets live in the instance directory (created 0600 on first use) or the environment."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


def secret_file(path: Path) -> str:
    """Read a secret, creating it (0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


@dataclass
class Settings:
    instance: Path
    database_url: str
    mqtt_host: str
    mqtt_port: int
    embedded_broker: bool  # False when MQTT_URL names an external broker
    public_host: str  # host printed in stamp URLs

    @classmethod
    def from_env(cls, instance: str | Path | None = None) -> "Settings":
        inst = Path(instance or os.environ.get("TEM_INSTANCE", "instance")).resolve()
        db = os.environ.get("DATABASE_URL") or f"sqlite:///{inst / 'tem.db'}"
        mqtt_url = os.environ.get("MQTT_URL")
        if mqtt_url:
            u = urlsplit(mqtt_url)
            host, port, embedded = u.hostname or "127.0.0.1", u.port or 1883, False
        else:
            host, port, embedded = "127.0.0.1", int(os.environ.get("TEM_BROKER_PORT", "18830")), True
        return cls(inst, db, host, port, embedded, os.environ.get("TEM_PUBLIC_HOST", "tem.vn"))

    @property
    def hub_mqtt_password(self) -> str:
        return os.environ.get("TEM_HUB_MQTT_PASSWORD") or secret_file(self.instance / "hub-mqtt.secret")

    @property
    def secret_key(self) -> str:
        return os.environ.get("SECRET_KEY") or secret_file(self.instance / "flask.secret")

    @property
    def station_broker(self) -> tuple[str, int, Path | None]:
        """Where stations reach the broker, for enrolment: TEM_STATION_MQTT_HOST (default: the
        public host), TEM_STATION_MQTT_PORT (default 8883) and the CA file they should trust,
        TEM_STATION_TLS_CA (unset: none)."""
        host = os.environ.get("TEM_STATION_MQTT_HOST") or self.public_host.split(":")[0]
        ca = os.environ.get("TEM_STATION_TLS_CA")
        return host, int(os.environ.get("TEM_STATION_MQTT_PORT") or 8883), Path(ca) if ca else None

    @property
    def broker_dir(self) -> Path:
        return self.instance / "broker"
