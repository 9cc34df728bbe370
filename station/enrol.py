"""Fetch this station's identity from the hub with a one-time enrolment code:
    python -m station.enrol CODE --hub https://tem.example.vn [--data-dir /var/lib/tem-station]
        [--ca-out /etc/tem-station/ca.crt]
Writes the broker password to DATA_DIR/mqtt.secret (0600) and the broker's CA, and prints
the [mqtt] section for station.toml."""
from __future__ import annotations

import argparse
import json
import os
import sys
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


def write_identity(identity: dict[str, Any], data_dir: Path, ca_out: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = data_dir / "mqtt.secret"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(identity["password"])
    lines = [f'station_id = "{identity["station_id"]}"', "[mqtt]", f'host = "{identity["mqtt_host"]}"',
             f'port = {int(identity["mqtt_port"])}']
    if identity.get("ca_pem"):
        ca_out.parent.mkdir(parents=True, exist_ok=True)
        ca_out.write_text(identity["ca_pem"])
        lines.append(f'tls_ca = "{ca_out}"')
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tem-station enrol", description=__doc__.split("\n")[0])
    ap.add_argument("code")
    ap.add_argument("--hub", required=True, help="the hub's web address")
    ap.add_argument("--data-dir", type=Path, default=Path("/var/lib/tem-station"))
    ap.add_argument("--ca-out", type=Path, default=Path("/etc/tem-station/ca.crt"))
    args = ap.parse_args(argv)
    identity = fetch(args.hub, args.code)
    snippet = write_identity(identity, args.data_dir, args.ca_out)
    print(f"enrolled as {identity['station_id']}; broker password in {args.data_dir / 'mqtt.secret'}")
    print("put these lines into station.toml:\n" + snippet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
