"""Container health checks without extra packages (compose `healthcheck:`).

    healthcheck.py http URL            a 2xx/3xx answer
    healthcheck.py tcp HOST PORT       something listens
    healthcheck.py mqtt-peer PORT      this container holds an established TCP connection to a
                                       broker on PORT (an ingestor or station that is connected)
"""
from __future__ import annotations

import socket
import sys
import urllib.request
from pathlib import Path


def established_to(port: int) -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def main(argv: list[str]) -> int:
    kind = argv[1]
    if kind == "http":
        with urllib.request.urlopen(argv[2], timeout=5) as r:
            return 0 if r.status < 400 else 1
    if kind == "tcp":
        with socket.create_connection((argv[2], int(argv[3])), timeout=3):
            return 0
    if kind == "mqtt-peer":
        return 0 if established_to(int(argv[2])) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", with the reason in `docker inspect`
        print(exc, file=sys.stderr)
        sys.exit(1)
