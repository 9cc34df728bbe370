"""Fetch this station's identity from the hub with a one-time enrolment code
(`tem-station enrol CODE --hub https://tem.example.vn`, see station/cli.py): the broker
password goes to DATA_DIR/mqtt.secret (0600, owned like DATA_DIR, so running it as root
leaves a file the service's user can read), the broker's CA to CA_OUT, and the [mqtt]
lines for station.toml come back to print."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def fetch(hub: str, code: str, timeout: float = 20) -> dict[str, Any]:
    req = urllib.request.Request(hub.rstrip("/") + "/enrol", data=json.dumps({"code": code}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", "")
        except ValueError:
            reason = ""
        raise SystemExit(f"the hub refused the code ({exc.code}): {reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SystemExit(f"cannot reach the hub at {hub}: {getattr(exc, 'reason', exc)}") from None


def write_identity(identity: dict[str, Any], data_dir: Path, ca_out: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = data_dir / "mqtt.secret"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(identity["password"])
    if os.geteuid() == 0:
        owner = data_dir.stat()
        os.chown(secret, owner.st_uid, owner.st_gid)
    lines = [f'station_id = "{identity["station_id"]}"', "[mqtt]", f'host = "{identity["mqtt_host"]}"',
             f'port = {int(identity["mqtt_port"])}']
    if identity.get("ca_pem"):
        ca_out.parent.mkdir(parents=True, exist_ok=True)
        ca_out.write_text(identity["ca_pem"])
        lines.append(f'tls_ca = "{ca_out}"')
    return "\n".join(lines)


def enrol(hub: str, code: str, data_dir: Path, ca_out: Path) -> str:
    """Trade the code for the identity and write it; returns what to tell the person."""
    identity = fetch(hub, code)
    snippet = write_identity(identity, data_dir, ca_out)
    return (f"enrolled as {identity['station_id']}; broker password in {data_dir / 'mqtt.secret'}\n"
            f"put these lines into station.toml:\n{snippet}")
