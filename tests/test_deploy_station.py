"""Station install on Raspberry Pi OS, tested without a Pi: the install script run into
a temporary root (DESTDIR), its systemd unit through `systemd-analyze verify`, the
update script's switch and rollback with a stand-in systemctl, the watchdog datagrams,
and clock_synced from timesyncd."""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import zipfile
from pathlib import Path

import pytest

from station import clock, watchdog

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "station"
SITE = next((ROOT / ".venv/lib").glob("python3*/site-packages"))


def make_wheel(out: Path, version: str = "0.1.0") -> Path:
    """The tem and station packages as a wheel with the tem-station entry point (no
    dependencies listed), built in-process: no network, no build backend."""
    name = f"tem-{version}.dist-info"
    files: dict[str, bytes] = {}
    for pkg in ("tem", "station"):
        for path in (ROOT / pkg).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files[str(path.relative_to(ROOT))] = path.read_bytes()
    files[f"{name}/METADATA"] = f"Metadata-Version: 2.1\nName: tem\nVersion: {version}\n".encode()
    files[f"{name}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{name}/entry_points.txt"] = b"[console_scripts]\ntem-station = station.cli:main\n"
    record = []
    for rel, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{rel},sha256={digest},{len(data)}")
    record.append(f"{name}/RECORD,,")
    files[f"{name}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / f"tem-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for rel, data in files.items():
            z.writestr(rel, data)
    return wheel


def install(destdir: Path, wheel: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DESTDIR": str(destdir), "TEM_PIP_OPTS": "--no-deps --no-index"}
    return subprocess.run(["sh", str(DEPLOY / "install.sh"), str(wheel), *args], check=False, env=env,
                          capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("station-install")
    root = tmp / "root"
    r = install(root, make_wheel(tmp), str(DEPLOY / "station.toml.example"))
    assert r.returncode == 0, r.stdout + r.stderr
    return root


def test_install_lays_out_release_unit_rules_and_config(installed: Path) -> None:
    current = installed / "opt/tem-station/current"
    assert current.is_symlink() and os.readlink(current).startswith("releases/0.1.0-")
    assert (current / "bin/tem-station").exists()
    assert (installed / "etc/systemd/system/tem-station.service").exists()
    rules = (installed / "etc/udev/rules.d/70-tem-station.rules").read_text()
    assert 'ATTR{idVendor}=="04f9"' in rules and 'GROUP="video"' in rules
    assert "SystemMaxUse" in (installed / "etc/systemd/journald.conf.d/50-tem-station.conf").read_text()
    assert (installed / "etc/tem-station/station.toml").exists()
    assert (installed / "var/lib/tem-station").stat().st_mode & 0o777 == 0o750


def test_installed_release_runs_and_accepts_the_example_config(installed: Path) -> None:
    # The release venv holds tem and station from the wheel; its dependencies come from the
    # test venv here (on a Pi, pip installs them).
    env = {**os.environ, "PYTHONPATH": str(SITE)}
    r = subprocess.run([str(installed / "opt/tem-station/current/bin/tem-station"), "check-config",
                        str(installed / "etc/tem-station/station.toml")],
                       check=False, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "print station line-1" in r.stdout


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_unit_passes_systemd_analyze_verify(installed: Path) -> None:
    units = installed / "usr/lib/systemd/system"
    if not units.exists():
        shutil.copytree("/usr/lib/systemd/system", units, symlinks=True)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={installed}", "tem-station.service"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr  # an unknown key is only a warning


def test_unit_declares_watchdog_restart_and_a_read_only_system(installed: Path) -> None:
    unit = (installed / "etc/systemd/system/tem-station.service").read_text()
    for line in ("Type=notify", "Restart=always", "WatchdogSec=30", "ProtectSystem=strict",
                 "ReadWritePaths=/var/lib/tem-station", "StateDirectory=tem-station"):
        assert line in unit.splitlines(), line


def fake_systemctl(bin_dir: Path, state: str) -> Path:
    log = bin_dir / "systemctl.log"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" = show ] && echo {state}\nexit 0\n')
    script.chmod(0o755)
    return log


def run_update(home: Path, bin_dir: Path, *args: str, config: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TEM_STATION_HOME": str(home),
           "TEM_STATION_CONFIG": config,
           "TEM_PIP_OPTS": "--no-deps --no-index", "TEM_UPDATE_WAIT": "3", "TEM_UPDATE_SETTLE": "1",
           "PYTHONPATH": str(SITE)}
    return subprocess.run(["sh", str(DEPLOY / "update.sh"), *args], env=env, capture_output=True, text=True,
                          timeout=240, check=False)


def test_update_switches_a_healthy_release_and_rolls_back_a_failing_one(tmp_path: Path) -> None:
    # Given a station installed on 0.1.0,
    root = tmp_path / "root"
    assert install(root, make_wheel(tmp_path), str(DEPLOY / "station.toml.example")).returncode == 0
    home = root / "opt/tem-station"
    first = os.readlink(home / "current")
    config = str(root / "etc/tem-station/station.toml")
    (tmp_path / "w2").mkdir()
    (tmp_path / "w3").mkdir()
    # when 0.2.0 starts and stays active, it becomes current and 0.1.0 is kept as previous;
    log = fake_systemctl(tmp_path / "ok", "active")
    r = run_update(home, tmp_path / "ok", str(make_wheel(tmp_path / "w2", "0.2.0")), config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    second = os.readlink(home / "current")
    assert second.startswith("releases/0.2.0-") and (home / "previous").read_text().strip() == first
    assert "restart tem-station" in log.read_text()
    # when 0.3.0 never becomes active, 0.2.0 is switched back and 0.3.0 removed;
    fake_systemctl(tmp_path / "bad", "failed")
    r = run_update(home, tmp_path / "bad", str(make_wheel(tmp_path / "w3", "0.3.0")), config=config)
    assert r.returncode == 1 and "rolling back" in r.stderr
    assert os.readlink(home / "current") == second
    assert not list((home / "releases").glob("0.3.0-*"))
    # and --rollback returns to 0.1.0.
    assert run_update(home, tmp_path / "ok", "--rollback", config=config).returncode == 0
    assert os.readlink(home / "current") == first


def test_release_switch_keeps_the_previous_target(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for name in ("a", "b"):
        (home / "releases" / name).mkdir(parents=True)
    script = f'. {DEPLOY / "release.sh"}; switch_release {home} {home}/releases/a; switch_release {home} {home}/releases/b'
    subprocess.run(["sh", "-c", script], check=True)
    assert os.readlink(home / "current") == "releases/b"
    assert (home / "previous").read_text().strip() == "releases/a"


# -- watchdog and clock ------------------------------------------------------------------------

def test_watchdog_sends_ready_and_pings_at_half_the_interval(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "30000000")
        dog = watchdog.Watchdog()
        assert dog.every == 15
        dog.ready()
        assert sock.recv(64) == b"READY=1"
        dog.tick()
        assert sock.recv(64) == b"WATCHDOG=1"
        dog.tick()  # within 15 s of the last ping: nothing
        dog.tick(healthy=False)
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(64)


def test_watchdog_is_silent_outside_systemd(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog.notify("READY=1") is False
    assert watchdog.Watchdog().every is None


@pytest.mark.parametrize("answer, expected", [("yes", True), ("no", False)])
def test_clock_asks_timedatectl_when_timesyncd_left_no_flag(tmp_path: Path, monkeypatch, answer: str,  # type: ignore[no-untyped-def]
                                                             expected: bool) -> None:
    (tmp_path / "timedatectl").write_text(f"#!/bin/sh\necho {answer}\n")
    (tmp_path / "timedatectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(clock, "TIMESYNC_FLAG", tmp_path / "absent")
    monkeypatch.setattr(clock, "_cache", None)
    assert clock.synced() is expected


def test_clock_is_synced_once_timesyncd_flagged_it(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    flag = tmp_path / "synchronized"
    flag.touch()
    monkeypatch.setattr(clock, "TIMESYNC_FLAG", flag)
    monkeypatch.setattr(clock, "_cache", None)
    assert clock.synced() is True


def test_station_records_events_with_clock_synced_false_before_ntp(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from station import config as station_config
    from station.runtime import Station
    monkeypatch.setattr(clock, "synced", lambda: False)
    (tmp_path / "mqtt.secret").write_text("x")
    cfg = station_config.from_dict({"station_id": "stall-9", "kind": "stall", "data_dir": str(tmp_path)})
    st = Station(cfg)
    try:
        event = st.record("alert", code="test", message="before NTP")
        assert event.clock_synced is False
    finally:
        st.outbox.close()


def test_hub_keeps_the_unsynced_clock_flag_in_the_stored_event(world) -> None:  # type: ignore[no-untyped-def]
    # Given a stall whose clock was not synchronised when it checked a stamp,
    import uuid as _uuid

    from hub.ingest import Applier, Incoming
    from hub.models import Event
    from tem import messages, topics
    event = messages.event_from_dict({"v": 1, "id": str(_uuid.uuid4()), "seq": 1, "station": "st-2",
                                      "at": "2020-01-01T00:00:05+00:00", "type": "checked",
                                      "serial": world.serials[0], "clock_synced": False})
    # when the hub stores it,
    Applier(world.sessions).apply([Incoming(topics.topic("st-2", "evt"), event.dump())])
    # then the stored event says so (the operator sees the 2020 time is the station's guess).
    with world.sessions() as s:
        assert s.get(Event, str(event.id)).body["clock_synced"] is False
