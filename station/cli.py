"""`tem-station`: check a config, run a station, read stamps from photos."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from station import config as station_config


def _check(paths: list[str]) -> int:
    bad = 0
    for path in paths:
        try:
            cfg = station_config.load(path)
            print(f"{path}: ok ({cfg.kind} station {cfg.station_id})")
        except station_config.ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def _run(path: str) -> int:
    try:
        cfg = station_config.load(path)
        cfg.password()  # refuse to start without a broker secret rather than retry forever
    except station_config.ConfigError as exc:
        print(f"error: {exc}\nThe station did not start.", file=sys.stderr)
        return 2
    from station.runtime import Station
    st = Station(cfg)
    signal.signal(signal.SIGTERM, lambda *_: st.stop())
    signal.signal(signal.SIGINT, lambda *_: st.stop())
    st.run()
    return 0


def _decode(paths: list[str]) -> int:
    from station.scanner.decode import decode_file
    found = 0
    for path in paths:
        try:
            payloads = decode_file(path)
        except OSError as exc:
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            continue
        for payload in payloads:
            print(f"{path}\t{payload}")
        found += len(payloads)
        if not payloads:
            print(f"{path}: no Tem stamp found", file=sys.stderr)
    return 0 if found else 1


def _sheet(path: str, count: int, out: str, template: str | None) -> int:
    from station.sheets import print_sheet
    try:
        cfg = station_config.load(path)
        serials = print_sheet(cfg, count, Path(out), template)
    except (station_config.ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{out}: {len(serials)} stamps, {serials[0]} … {serials[-1]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tem-station", description="Tem station")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check-config", help="validate station config files")
    p.add_argument("files", nargs="+")
    p = sub.add_parser("run", help="run the station")
    p.add_argument("config")
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("enrol", help="fetch this station's broker identity from the hub with a one-time code")
    p.add_argument("code", help="the enrolment code from the operator console, e.g. 7Q2M-K9XD-4HTA")
    p.add_argument("--hub", required=True, help="the hub's web address, e.g. https://tem.example.vn")
    p.add_argument("--data-dir", type=Path, default=Path("/var/lib/tem-station"))
    p.add_argument("--ca-out", type=Path, default=Path("/etc/tem-station/ca.crt"))
    p = sub.add_parser("decode", help="print the Tem stamps read from photos")
    p.add_argument("photos", nargs="+")
    sub.add_parser("schema", help="print the config JSON schema")
    p = sub.add_parser("sheet", help="A4 PDF of N stamp labels for the office printer (uses this station's codes)")
    p.add_argument("config")
    p.add_argument("count", type=int)
    p.add_argument("-o", "--out", default="stamps.pdf")
    p.add_argument("--template", choices=["62", "62x29", "29x90", "50x30"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.cmd == "check-config":
        return _check(args.files)
    if args.cmd == "run":
        return _run(args.config)
    if args.cmd == "enrol":
        from station.enrol import enrol
        print(enrol(args.hub, args.code, args.data_dir, args.ca_out))
        return 0
    if args.cmd == "decode":
        return _decode(args.photos)
    if args.cmd == "sheet":
        return _sheet(args.config, args.count, args.out, args.template)
    print(json.dumps(station_config.json_schema(), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
