"""A running station: outbox, link, telemetry, commands from the hub, pushed
config, and the station's flow (printing, or checking stamps at a stall)."""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from station import clock, watchdog
from station import config as station_config
from station.config import StationConfig
from station.link import Link
from station.outbox import Outbox
import tem
from tem import messages, topics

log = logging.getLogger(__name__)
SOFTWARE = f"tem-station {tem.__version__}"  # in the retained online state message
PUSHED = "pushed-config.json"


class Flow(Protocol):
    """What a station does: printing, activating or checking. Hardware stays inside."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def telemetry(self) -> dict[str, Any]: ...
    def handle(self, cmd: messages.Command) -> tuple[bool, str] | None: ...  # None: not this flow's command


def make_flow(station: "Station") -> Flow:
    if station.cfg.kind == "print":
        from station.printing import PrintFlow
        return PrintFlow(station)
    if station.cfg.kind == "activation":
        from station.scanner.activation import ActivationFlow
        return ActivationFlow(station)
    from station.scanner.vendor import VendorFlow
    return VendorFlow(station)


class Station:
    def __init__(self, cfg: StationConfig, source: dict[str, Any] | None = None):
        self.source = source or cfg.model_dump(mode="json", exclude_unset=True)
        self.cfg = cfg
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(cfg.data_dir / "outbox.db", cfg.station_id)
        self.link = Link(cfg, self.outbox, software=SOFTWARE)
        self.started = time.monotonic()
        self._stop = threading.Event()
        self.kiosk_server = None
        self._load_pushed()
        self.flow = make_flow(self)

    # -- recording ----------------------------------------------------------------------
    def record(self, event_type: str, **fields: Any) -> Any:
        """Durably record an event (the worker may be told "done" when this returns)."""
        if self.cfg.place and event_type == "checked":
            fields.setdefault("place", self.cfg.place)
        fields.setdefault("clock_synced", clock.synced())  # no RTC: the hub flags times taken before NTP
        event = self.outbox.append(event_type, **fields)
        self.link.wake()
        return event

    # -- main loop ----------------------------------------------------------------------
    def run(self) -> None:
        self.link.start()
        for target in (self._telemetry_loop, self._inbox_loop):
            threading.Thread(target=target, name=target.__name__, daemon=True).start()
        self.flow.start()
        from station import kiosk
        kiosk.serve(self)
        dog = watchdog.Watchdog()
        dog.ready()
        try:
            while not self._stop.wait(0.5):
                dog.tick(healthy=self.link._sender.is_alive())
        finally:
            if self.kiosk_server is not None:
                self.kiosk_server.shutdown()
            self.flow.stop()
            self.link.stop()
            self.outbox.close()

    def stop(self) -> None:
        self._stop.set()

    def ask(self, question: messages.VerifyRequest) -> bool:
        """Put a question to the hub on the station's own request topic (the answer comes as a
        command); False when the link is down."""
        if not self.link.connected.is_set():
            return False
        self.link._client.publish(topics.topic(self.cfg.station_id, "req"), question.dump(), qos=1)
        return True

    def telemetry(self) -> messages.Telemetry:
        return messages.Telemetry(
            at=messages.now(), config_version=self.cfg.config_version, outbox=self.outbox.backlog(),
            cpu_temp=_cpu_temp(), uptime_s=round(time.monotonic() - self.started, 1), **self.flow.telemetry())

    def _telemetry_loop(self) -> None:
        while not self._stop.is_set():
            # Report once the broker has confirmed our subscriptions: what the hub answers a
            # report with (a block of codes for a station running short) must reach us.
            if not self.link.subscribed.wait(1):
                continue
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
                if not (ok and msg.args.get("quiet")):  # periodic syncs and answers: failures only
                    self.record("command_result", command=msg.id, ok=ok, message=text[:300])

    def handle(self, cmd: messages.Command) -> tuple[bool, str]:
        try:
            answer = self.flow.handle(cmd)
            if answer is not None:
                return answer
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


def _cpu_temp() -> float | None:
    try:
        return int(Path("/sys/class/thermal/thermal_zone0/temp").read_text()) / 1000
    except (OSError, ValueError):
        return None
