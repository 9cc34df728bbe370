"""Station configuration: one TOML file per station, validated before anything starts.

Unknown keys are errors (a typo must not be silently ignored). The broker
password is never in the file: it comes from an environment variable or a
secret file in the data directory.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tem import gs1
from tem.topics import STATION_ID


class ConfigError(ValueError):
    """A config file that cannot be used; the message names file, field and problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttConfig(_Section):
    host: str = Field("127.0.0.1", description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="broker port (8883 for TLS)")
    username: str | None = Field(None, description="broker login; defaults to the station id")
    password_env: str = Field("TEM_MQTT_PASSWORD", description="environment variable holding the password")
    password_file: Path | None = Field(None, description="file holding the password (default: DATA_DIR/mqtt.secret)")
    tls_ca: Path | None = Field(None, description="CA certificate; set it to use TLS")
    keepalive_s: int = Field(30, ge=5, le=600, description="MQTT keepalive; a dead link is noticed after 1.5x this")
    session_expiry_s: int = Field(7 * 24 * 3600, ge=60, description="how long the broker keeps this station's session")


class ProductConfig(_Section):
    gtin: str = Field(description="GTIN of the product being packed (8, 12, 13 or 14 digits)")
    name: str = Field(description="product name as printed, in Vietnamese")
    producer: str = Field("", description="producer/cooperative name as printed")
    lot: str = Field(min_length=1, max_length=20, description="current batch/lot code")
    packed_on: str | None = Field(None, description="packing date printed on the label (YYYY-MM-DD); default today")

    @field_validator("gtin")
    @classmethod
    def _gtin(cls, value: str) -> str:
        try:
            return gs1.normalize_gtin(value)
        except gs1.GS1Error as exc:
            raise ValueError(str(exc)) from None


class PrinterConfig(_Section):
    driver: Literal["file", "brother_ql", "escpos", "zpl"] = Field("file", description="printer protocol")
    model: str | None = Field(None, description="printer model, e.g. QL-800")
    target: str | None = Field(None, description="device: /dev/usb/lp0, usb://0x04f9:0x209b, tcp://host:9100, serial:///dev/ttyUSB0")
    template: Literal["62", "29x90", "62x29", "50x30"] = Field("62x29", description="label template")
    dpi: int = Field(300, description="printer resolution in dots per inch")
    output_dir: Path | None = Field(None, description="where the file driver writes labels (default DATA_DIR/labels)")
    black_red_roll: bool = Field(False, description="Brother QL-800 series: a black/red DK-22251 roll is loaded (needs a two-colour raster)")


class PrintFlowConfig(_Section):
    activate_on_print: bool = Field(False, description="record the stamp as activated for the current lot when printed")
    low_water: int = Field(200, ge=0, description="warn and ask the hub for codes when fewer remain")
    simulate_every_s: float | None = Field(None, gt=0, description="demo only: press PRINT every N seconds")


class CameraConfig(_Section):
    source: Literal["v4l2", "picamera2", "replay"] = Field("v4l2", description="where frames come from")
    device: str = Field("0", description="camera index or path; for replay, a directory or video file")
    width: int = Field(640, ge=160)
    height: int = Field(480, ge=120)
    fps: float = Field(15, gt=0, le=120)
    exposure: float | None = Field(None, description="manual exposure; unset for automatic")
    loop: bool = Field(False, description="replay: start again at the end")
    budget_ms: float = Field(40, gt=0, le=2000, description="decoder time per frame for the fallback ladder (ms)")


class ScanConfig(_Section):
    """Activation and stall stations: feedback and handheld scanners."""
    sound: bool = Field(True, description="beep (and play the verdict sound on the page) after each scan")
    hold_s: float = Field(2.0, gt=0, le=60, description="the same stamp seen again within this long counts once")
    serial_port: str | None = Field(None, description="handheld barcode scanner on a serial port, e.g. /dev/ttyACM0")
    serial_baud: int = Field(9600, ge=300, description="baud rate of the serial scanner")
    hid_device: str | None = Field(None, description="USB-HID keyboard-wedge scanner as an evdev device (needs the evdev package)")


class GpioConfig(_Section):
    button_pin: int | None = Field(None, description="BCM pin of the PRINT button")
    led_pin: int | None = Field(None, description="BCM pin of the status lamp")
    buzzer_pin: int | None = Field(None, description="BCM pin of the buzzer")
    long_press_s: float = Field(1.5, gt=0, description="hold this long to reprint the last label")
    debounce_s: float = Field(0.05, ge=0, le=0.5, description="the button must stay put this long to count")


class KioskConfig(_Section):
    bind: str = Field("127.0.0.1", description="address of the station's local touch page")
    port: int = Field(8080, ge=1, le=65535, description="port of the station's local touch page")
    language: Literal["vi", "en"] = Field("vi", description="default language of the page")


class StationConfig(_Section):
    """One station: who it is, how it reaches the hub, and what it drives."""

    station_id: str = Field(pattern=STATION_ID.pattern, description="unique id, also the broker login")
    kind: Literal["print", "activation", "stall"] = Field(description="what the station does")
    data_dir: Path = Field(Path("/var/lib/tem-station"), description="outbox, codes and secrets live here")
    hub_host: str = Field("tem.vn", description="host name printed in stamp URLs")
    accepted_hosts: list[str] = Field(default_factory=list, description="hosts a scanned URL may have; empty = any")
    place: str | None = Field(None, max_length=80, description="coarse place name recorded with events")
    telemetry_interval_s: float = Field(10, ge=1, description="seconds between telemetry messages")
    resend_after_s: float = Field(15, ge=1, description="resend an event the hub has not acknowledged after this long")
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    product: ProductConfig | None = None
    printer: PrinterConfig | None = None
    printing: PrintFlowConfig = Field(default_factory=PrintFlowConfig)
    camera: CameraConfig | None = None
    scan: ScanConfig = Field(default_factory=ScanConfig)
    gpio: GpioConfig | None = None
    kiosk: KioskConfig | None = Field(None, description="serve the local touch page; unset = no page")
    config_version: int = Field(0, ge=0, description="version pushed by the hub; 0 = local file")

    def model_post_init(self, _: Any) -> None:
        if self.kind == "print" and self.printer is None:
            raise ValueError("a print station needs a [printer] section")

    @property
    def username(self) -> str:
        return self.mqtt.username or self.station_id

    def password(self) -> str:
        value = os.environ.get(self.mqtt.password_env)
        if value:
            return value
        path = self.mqtt.password_file or self.data_dir / "mqtt.secret"
        try:
            return path.read_text().strip()
        except OSError:
            raise ConfigError(
                f"no broker password: set {self.mqtt.password_env} or put it in {path}") from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (a typo?)"
        lines.append(f"field '{loc}': {msg}" if loc else msg)
    return "; ".join(lines)


def from_dict(data: dict[str, Any], source: str = "config") -> StationConfig:
    try:
        return StationConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc)}") from None


def load(path: str | Path) -> StationConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(data, str(path))


def json_schema() -> dict[str, Any]:
    return StationConfig.model_json_schema()
