"""A running station: outbox, link, telemetry, commands from the hub, pushed
config, and the station's flow (printing, or checking stamps at a stall)."""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from pathlib import Path
from typing import Any

from station import config as station_config
from station.codebook import Codebook
from station.config import StationConfig
from station.link import Link
from station.outbox import Outbox
from tem import messages
from tem.stamp import StampURLError, parse_stamp_url

log = logging.getLogger(__name__)
SOFTWARE = "tem-station 0.1.0"
PUSHED = "pushed-config.json"


class Station:
    def __init__(self, cfg: StationConfig, source: dict[str, Any] | None = None):
        self.source = source or cfg.model_dump(mode="json", exclude_unset=True)
        self.cfg = cfg
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(cfg.data_dir / "outbox.db", cfg.station_id)
        self.link = Link(cfg, self.outbox, software=SOFTWARE)
        self.started = time.monotonic()
        self._stop = threading.Event()
        self.printing = None
        self._load_pushed()
        if cfg.kind == "print":
            from station.printer import make_driver
            from station.printing import PrintFlow
            assert cfg.printer is not None
            self.codebook: Codebook | None = Codebook(cfg.data_dir / "codes.db")
            self.printer = make_driver(cfg.printer, cfg.data_dir)
            self.printing = PrintFlow(self.cfg, self.codebook, self.printer, self.record)
        else:
            self.codebook = None

    # -- recording ----------------------------------------------------------------------
    def record(self, event_type: str, **fields: Any) -> Any:
        """Durably record an event (the worker may be told "done" when this returns)."""
        if self.cfg.place and event_type == "checked":
            fields.setdefault("place", self.cfg.place)
        event = self.outbox.append(event_type, **fields)
        self.link.wake()
        return event

    # -- main loop ----------------------------------------------------------------------
    def run(self) -> None:
        self.link.start()
        threads = [threading.Thread(target=self._telemetry_loop, name="telemetry", daemon=True),
                   threading.Thread(target=self._inbox_loop, name="inbox", daemon=True)]
        if self._simulating():
            threads.append(threading.Thread(target=self._simulate_loop, name="simulate", daemon=True))
        for t in threads:
            t.start()
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.link.stop()
            self.outbox.close()

    def stop(self) -> None:
        self._stop.set()

    def telemetry(self) -> messages.Telemetry:
        status = self.printer.status() if self.printing else None
        return messages.Telemetry(
            at=messages.now(), config_version=self.cfg.config_version, outbox=self.outbox.backlog(),
            printer=status.state if status else None, paper=status.paper if status else None,
            codes_left=self.codebook.remaining() if self.codebook else None,
            cpu_temp=_cpu_temp(), uptime_s=round(time.monotonic() - self.started, 1))

    def _telemetry_loop(self) -> None:
        self.link.connected.wait(5)  # the first report as soon as the link is up
        while not self._stop.is_set():
            try:
                self.link.publish_telemetry(self.telemetry())
            except Exception:
                log.exception("telemetry failed")
            self._stop.wait(self.cfg.telemetry_interval_s)

    # -- commands and pushed config ---------------------------------------------------------
    def _inbox_loop(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.link.inbox.get(timeout=0.5)
            except Exception:
                continue
            if isinstance(msg, messages.ConfigMessage):
                self.apply_config(msg)
            else:
                ok, text = self.handle(msg)
                self.record("command_result", command=msg.id, ok=ok, message=text[:300])

    def handle(self, cmd: messages.Command) -> tuple[bool, str]:
        try:
            if cmd.name == "add_codes":
                if self.codebook is None:
                    return False, "this station does not print"
                added = self.codebook.add([str(s) for s in cmd.args["serials"]], cmd.args.get("gtin"))
                return True, f"{added} codes added"
            if cmd.name in ("pause", "resume") and self.printing:
                self.printing.paused = cmd.name == "pause"
                return True, f"{cmd.name}d"
            if cmd.name == "test_print" and self.printing:
                serial = self.printing.press()
                return (True, f"printed {serial}") if serial else (False, self.printing.last_error)
            if cmd.name == "set_batch" and self.cfg.product:
                self._replace(product={**self.cfg.product.model_dump(mode="json"), "lot": str(cmd.args["lot"])})
                return True, f"lot is now {self.cfg.product.lot}"
            if cmd.name == "void":
                self.record("voided", serial=cmd.args["serial"], reason=cmd.args.get("reason", "other"))
                return True, "voided"
            if cmd.name == "reload":
                self._load_pushed()
                return True, f"config version {self.cfg.config_version}"
        except (KeyError, ValueError, station_config.ConfigError) as exc:
            return False, f"bad arguments for {cmd.name}: {exc}"
        return False, f"command {cmd.name} is not supported by a {self.cfg.kind} station"

    def apply_config(self, msg: messages.ConfigMessage) -> bool:
        if msg.version <= self.cfg.config_version:
            return True
        if "mqtt" in msg.config or "station_id" in msg.config or "data_dir" in msg.config:
            self.record("alert", code="config_rejected",
                        message=f"config {msg.version} refused: identity and broker settings are local only")
            return False
        try:
            self._replace(**msg.config, config_version=msg.version)
        except station_config.ConfigError as exc:
            self.record("alert", code="config_rejected", message=f"config {msg.version} refused: {exc}"[:300])
            return False
        (self.cfg.data_dir / PUSHED).write_text(json.dumps({"version": msg.version, "config": msg.config}))
        return True

    def _replace(self, **changes: Any) -> None:
        new = station_config.from_dict({**self.source, **changes}, "pushed config")
        self.source = {**self.source, **changes}
        # Flows hold the same object: update it in place so they see the change.
        for name in StationConfig.model_fields:
            setattr(self.cfg, name, getattr(new, name))

    def _load_pushed(self) -> None:
        path = self.cfg.data_dir / PUSHED
        if path.exists():
            data = json.loads(path.read_text())
            try:
                self._replace(**data["config"], config_version=data["version"])
            except station_config.ConfigError as exc:
                log.error("ignoring the saved pushed config: %s", exc)

    # -- demo simulation ----------------------------------------------------------------------
    def _simulating(self) -> bool:
        if self.printing:
            return self.cfg.printing.simulate_every_s is not None
        return bool(self.cfg.camera and self.cfg.camera.source == "replay")

    def _simulate_loop(self) -> None:
        if self.printing:
            every = self.cfg.printing.simulate_every_s or 2.0
            while not self._stop.wait(every):
                serial = self.printing.press()
                log.info("printed %s", serial) if serial else log.warning("%s", self.printing.last_error)
            return
        assert self.cfg.camera is not None
        folder = Path(self.cfg.camera.device)
        while not self._stop.wait(1 / self.cfg.camera.fps):
            photos = sorted(folder.glob("*.png")) if folder.is_dir() else []
            if photos:
                self.check_photo(random.choice(photos[-50:]))

    def check_photo(self, path: Path) -> list[str]:
        from station.scanner.decode import decode_file
        seen = []
        for payload in decode_file(path):
            try:
                ref = parse_stamp_url(payload, set(self.cfg.accepted_hosts) or None)
            except StampURLError:
                continue
            self.record("checked", serial=ref.serial, gtin=ref.gtin)
            seen.append(ref.serial)
        return seen


def _cpu_temp() -> float | None:
    try:
        return int(Path("/sys/class/thermal/thermal_zone0/temp").read_text()) / 1000
    except (OSError, ValueError):
        return None
