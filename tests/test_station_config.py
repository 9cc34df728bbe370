"""Station configs (station/config.py) and the `tem-station check-config` / `run`
commands: a bad config names file, field and problem, and a station refuses to
start on one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station import config as station_config
from station.config import ConfigError, StationConfig, from_dict, json_schema, load

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "firmware_configs"
EXAMPLES = sorted(CONFIGS.glob("*.toml"))
TEM_STATION = Path(sys.executable).parent / "tem-station"

MINIMAL = {"station_id": "stall-1", "kind": "stall"}


def _write(tmp_path: Path, text: str, name: str = "station.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TEM_MQTT_PASSWORD"}
    env.update(env_extra or {})
    return subprocess.run([str(TEM_STATION), *args], capture_output=True, text=True, timeout=60, env=env)


def _error(data: dict, source: str = "site.toml") -> str:
    with pytest.raises(ConfigError) as info:
        from_dict(data, source)
    return str(info.value)


# --- the shipped examples -------------------------------------------------

def test_there_is_one_example_per_station_kind():
    kinds = {load(p).kind for p in EXAMPLES}
    assert kinds == {"print", "activation", "stall"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configs_validate(path):
    cfg = load(path)
    assert cfg.station_id and cfg.username == cfg.station_id
    if cfg.product is not None:
        assert len(cfg.product.gtin) == 14  # normalised from the GTIN-13 in the file


def test_print_station_example_reads_as_written():
    cfg = load(CONFIGS / "print-station.example.toml")
    assert cfg.kind == "print" and cfg.station_id == "kynhu-line-1"
    assert cfg.printer is not None and cfg.printer.driver == "brother_ql" and cfg.printer.template == "62x29"
    assert cfg.product is not None and cfg.product.gtin == "08934567890120" and cfg.product.name == "Cá thát lát rút xương"
    assert cfg.mqtt.port == 8883 and cfg.mqtt.tls_ca == Path("/etc/tem/ca.crt")
    assert cfg.gpio is not None and cfg.gpio.button_pin == 17


def test_schema_file_equals_the_schema_command_output():
    shipped = json.loads((CONFIGS / "schema.json").read_text(encoding="utf-8"))
    assert shipped == json_schema()
    out = _cli("schema")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == shipped


def test_schema_forbids_unknown_keys_in_every_section():
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values())


# --- defaults and secrets -------------------------------------------------

def test_minimal_config_gets_the_documented_defaults():
    cfg = from_dict(MINIMAL)
    assert cfg.mqtt.host == "127.0.0.1" and cfg.mqtt.port == 1883 and cfg.mqtt.keepalive_s == 30
    assert cfg.hub_host == "tem.vn" and cfg.accepted_hosts == [] and cfg.config_version == 0
    assert cfg.printing.low_water == 200 and not cfg.printing.activate_on_print


def test_broker_login_defaults_to_the_station_id():
    assert from_dict(MINIMAL).username == "stall-1"
    assert from_dict({**MINIMAL, "mqtt": {"username": "other"}}).username == "other"


def test_password_from_environment_then_secret_file(tmp_path, monkeypatch):
    cfg = from_dict({**MINIMAL, "data_dir": str(tmp_path), "mqtt": {"password_env": "TEM_TEST_PW"}})
    monkeypatch.delenv("TEM_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match="no broker password: set TEM_TEST_PW or put it in .*mqtt.secret"):
        cfg.password()
    (tmp_path / "mqtt.secret").write_text("from-file\n")
    assert cfg.password() == "from-file"
    monkeypatch.setenv("TEM_TEST_PW", "from-env")
    assert cfg.password() == "from-env"


# --- errors name file, field and problem ----------------------------------

@pytest.mark.parametrize("data, words", [
    ({**MINIMAL, "stationid": "x"}, "field 'stationid': unknown field (a typo?)"),
    ({**MINIMAL, "mqtt": {"prot": 1883}}, "field 'mqtt.prot': unknown field (a typo?)"),
    ({**MINIMAL, "camera": {"fsp": 10}}, "field 'camera.fsp': unknown field"),
    ({"kind": "stall"}, "field 'station_id': Field required"),
    ({"station_id": "s1"}, "field 'kind': Field required"),
    ({**MINIMAL, "kind": "kiosk"}, "field 'kind': Input should be 'print', 'activation' or 'stall'"),
    ({**MINIMAL, "station_id": "Stall 1"}, "field 'station_id': String should match pattern"),
    ({**MINIMAL, "mqtt": {"port": 70000}}, "field 'mqtt.port': Input should be less than or equal to 65535"),
    ({**MINIMAL, "mqtt": {"port": "abc"}}, "field 'mqtt.port': Input should be a valid integer"),
    ({**MINIMAL, "mqtt": {"keepalive_s": 1}}, "field 'mqtt.keepalive_s': Input should be greater than or equal to 5"),
    ({**MINIMAL, "product": {"gtin": "8934567890121", "name": "x", "lot": "L1"}},
     "field 'product.gtin': GTIN '8934567890121' has check digit 1, it should be 0"),
    ({**MINIMAL, "product": {"gtin": "8934567890120", "name": "x"}}, "field 'product.lot': Field required"),
    ({**MINIMAL, "product": {"gtin": "8934567890120", "name": "x", "lot": "L" * 21}},
     "field 'product.lot': String should have at most 20 characters"),
    ({**MINIMAL, "printer": {"driver": "inkjet"}}, "field 'printer.driver'"),
    ({**MINIMAL, "printer": {"template": "100x50"}}, "field 'printer.template'"),
    ({**MINIMAL, "camera": {"fps": 0}}, "field 'camera.fps': Input should be greater than 0"),
    ({**MINIMAL, "telemetry_interval_s": 0.5}, "field 'telemetry_interval_s'"),
    ({**MINIMAL, "mqtt": "hub.tem.vn"}, "field 'mqtt'"),
    ({"station_id": "p1", "kind": "print"}, "a print station needs a [printer] section"),
])
def test_bad_config_names_source_field_and_problem(data, words):
    message = _error(data)
    assert message.startswith("site.toml: ")
    assert words in message


def test_every_problem_is_reported_at_once():
    message = _error({**MINIMAL, "mqtt": {"port": 0, "hots": "x"}, "palce": "y"})
    assert "mqtt.port" in message and "mqtt.hots" in message and "palce" in message


SECTIONS = {None: StationConfig, "mqtt": station_config.MqttConfig, "printing": station_config.PrintFlowConfig,
            "camera": station_config.CameraConfig, "gpio": station_config.GpioConfig,
            "printer": station_config.PrinterConfig}


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True), st.sampled_from(sorted(SECTIONS, key=str)))
def test_any_unknown_key_is_an_error_naming_it(key, section):
    if key in SECTIONS[section].model_fields:
        return
    data = {**MINIMAL, key: 1} if section is None else {**MINIMAL, section: {key: 1}}
    where = key if section is None else f"{section}.{key}"
    assert f"field '{where}': unknown field (a typo?)" in _error(data)


def test_load_names_the_file_for_bad_toml(tmp_path):
    path = _write(tmp_path, 'station_id = "s1"\nkind = stall\n')
    with pytest.raises(ConfigError, match=rf"^{path}: not valid TOML: .*line 2"):
        load(path)


def test_load_names_the_file_when_it_is_missing(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read the file: No such file"):
        load(tmp_path / "nope.toml")


def test_load_refuses_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('station_id = "s1"\nkind = "stall"\nplace = "Chợ"\n'.encode("utf-8")[:-4] + b"\xe0\"\n")
    with pytest.raises(ConfigError, match=rf"^{path}: not UTF-8 text"):
        load(path)


def test_load_reports_field_errors_with_the_path(tmp_path):
    path = _write(tmp_path, 'station_id = "s1"\nkind = "stall"\n[mqtt]\nport = 0\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: field 'mqtt.port': ")


def test_example_with_a_typo_is_refused(tmp_path):
    text = (CONFIGS / "print-station.example.toml").read_text(encoding="utf-8").replace("low_water", "low_wtaer")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"field 'printing\.low_wtaer': unknown field"):
        load(path)


def test_config_round_trips_through_its_json_form():
    for path in EXAMPLES:
        cfg = load(path)
        assert from_dict(cfg.model_dump(mode="json")) == cfg


# --- the command line -----------------------------------------------------

def test_check_config_accepts_the_examples():
    out = _cli("check-config", *map(str, EXAMPLES))
    assert out.returncode == 0, out.stderr
    assert "print-station.example.toml: ok (print station kynhu-line-1)" in out.stdout
    assert out.stdout.count(": ok (") == len(EXAMPLES)


def test_check_config_names_file_field_and_problem(tmp_path):
    bad = _write(tmp_path, 'station_id = "s1"\nkind = "stall"\n[mqtt]\nprot = 1883\n', "bad.toml")
    out = _cli("check-config", str(EXAMPLES[0]), str(bad))
    assert out.returncode == 1
    assert f"error: {bad}: field 'mqtt.prot': unknown field (a typo?)" in out.stderr
    assert f"{EXAMPLES[0]}: ok" in out.stdout  # the good one is still reported
    assert "Traceback" not in out.stderr


def test_check_config_on_a_non_utf8_file_is_an_error_not_a_crash(tmp_path):
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b'station_id = "\xff"\n')
    out = _cli("check-config", str(bad))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{bad}: not UTF-8 text" in out.stderr


def test_run_refuses_to_start_on_a_bad_config(tmp_path):
    bad = _write(tmp_path, f'station_id = "s1"\nkind = "stall"\ndata_dir = "{tmp_path}"\n'
                           '[camera]\nfps = -1\n', "bad.toml")
    out = _cli("run", str(bad), env_extra={"TEM_MQTT_PASSWORD": "x"})
    assert out.returncode == 2
    assert f"{bad}: field 'camera.fps': Input should be greater than 0" in out.stderr
    assert "did not start" in out.stderr and "Traceback" not in out.stderr


def test_run_refuses_to_start_without_a_broker_password(tmp_path):
    cfg = _write(tmp_path, f'station_id = "s1"\nkind = "stall"\ndata_dir = "{tmp_path}"\n')
    out = _cli("run", str(cfg))
    assert out.returncode == 2
    assert "no broker password: set TEM_MQTT_PASSWORD" in out.stderr and "did not start" in out.stderr

