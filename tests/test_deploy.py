"""The deployment: docker-compose.yml is complete and consistent with .env.example, and
the same topology run by honcho from the Procfile (no Docker) carries events from two
simulated stations through a TLS broker and two ingestors into PostgreSQL."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.conftest import PG_ADMIN, wait_until

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
LONG_RUNNING = {"db", "mosquitto", "hub", "nginx", "ingest-1", "ingest-2", "station-line-1", "station-stall-1"}
ONE_SHOT = {"certs", "migrate", "seed", "broker-config"}


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def docker_compose_works() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "compose", "version"], check=False, capture_output=True).returncode == 0


@pytest.mark.skipif(not docker_compose_works(), reason="this docker client has no compose plugin")
def test_docker_compose_accepts_the_file_with_the_example_env() -> None:
    r = subprocess.run(["docker", "compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr


def test_compose_has_every_service_of_the_topology() -> None:
    services = compose()["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT
    assert [services[f"ingest-{i}"]["command"] for i in (1, 2)] == [["tem", "ingest"]] * 2
    assert services["broker-config"]["command"] == ["tem", "broker", "--write-only"]
    assert services["migrate"]["command"] == ["tem", "db", "upgrade"]
    assert "gunicorn" in " ".join(services["hub"]["command"])


def test_every_long_running_service_has_a_health_check() -> None:
    services = compose()["services"]
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck", {})
        assert check.get("test"), f"{name} has no health check"
        assert services[name].get("restart") == "unless-stopped", name


def test_one_shot_jobs_run_once_and_gate_what_needs_them() -> None:
    services = compose()["services"]
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", name
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            expected = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert cond["condition"] == expected, f"{name} -> {dep}"


def test_every_variable_the_compose_file_uses_is_documented_in_env_example() -> None:
    text = COMPOSE.read_text()
    documented = env_example()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", text))
    assert used, "the compose file takes its configuration from the environment"
    assert used <= set(documented), f"undocumented: {sorted(used - set(documented))}"
    # Optional ones carry a default in the file itself.
    for name in re.findall(r"\$\{([A-Z_][A-Z0-9_]*):-", text):
        assert name in documented, name


def test_env_example_holds_placeholders_not_secrets() -> None:
    env = env_example()
    for key in ("POSTGRES_PASSWORD", "SECRET_KEY", "TEM_HUB_MQTT_PASSWORD"):
        assert "CHANGE" in env[key], key
    assert env["TEM_MINT_KEYS"] == ""
    assert env["POSTGRES_PASSWORD"] in env["DATABASE_URL"]


def test_files_the_compose_file_names_exist() -> None:
    assert (ROOT / "Dockerfile").exists()
    for rel in ("deploy/nginx.conf", "deploy/gen-demo-ca.sh", "deploy/demo_seed.py", "deploy/healthcheck.py"):
        assert (ROOT / rel).exists(), rel
    conf = (ROOT / "deploy/nginx.conf").read_text()
    assert conf.count("{") == conf.count("}")
    for directive in ("gzip on", "limit_req_zone", "limit_req zone=public", "location /static/", "proxy_pass http://hub"):
        assert directive in conf, directive


def test_healthcheck_sees_an_established_broker_connection(world) -> None:  # type: ignore[no-untyped-def]
    import socket
    check = [str(ROOT / ".venv/bin/python"), str(ROOT / "deploy/healthcheck.py")]
    port = str(world.broker.port)
    assert subprocess.run([*check, "tcp", "127.0.0.1", port], check=False).returncode == 0
    with socket.create_connection(("127.0.0.1", world.broker.port)):
        assert subprocess.run([*check, "mqtt-peer", port], check=False).returncode == 0


# -- the same topology without Docker ----------------------------------------------------------

@pytest.fixture
def local_db() -> str:
    name = f"tem_local_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.skipif(not (ROOT / ".venv/bin/honcho").exists(), reason="honcho is not installed")
def test_procfile_topology_starts_and_events_flow(local_db: str, tmp_path: Path) -> None:
    from hub.broker import free_port
    web, tls_port, internal = free_port(), free_port(), free_port()
    env_file = tmp_path / "local.env"
    env_file.write_text("\n".join([
        f"TEM_INSTANCE={tmp_path / 'instance'}", f"TEM_DEMO_DIR={tmp_path / 'demo'}",
        f"DATABASE_URL={local_db.replace('postgresql://', 'postgresql+psycopg://')}",
        "SECRET_KEY=test-secret", "TEM_HUB_MQTT_PASSWORD=test-hub-password",
        f"TEM_PUBLIC_HOST=127.0.0.1:{web}", f"TEM_WEB_PORT={web}",
        f"TEM_BROKER_PORT={tls_port}", f"TEM_BROKER_TLS_DIR={tmp_path / 'certs'}",
        f"TEM_BROKER_INTERNAL_PORT={internal}", ""]))
    log = tmp_path / "honcho.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEM_", "DATABASE_URL", "MQTT_URL"))}
    with open(log, "wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(["sh", str(ROOT / "deploy/local.sh"), str(env_file)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=tmp_path, env=env, start_new_session=True)

    def events() -> dict[str, int]:
        try:
            with psycopg.connect(local_db) as conn:
                return dict(conn.execute("SELECT station_id, count(*) FROM event GROUP BY station_id").fetchall())
        except psycopg.Error:
            return {}

    try:
        # Given the whole topology started by honcho,
        wait_until(lambda: log.read_text(errors="replace").count("ingestor connected") >= 2, timeout=60,
                   what=f"two ingestors connected\n{log.read_text(errors='replace')[-3000:]}")
        # then the print line's labels reach the database through TLS, the broker and an ingestor,
        wait_until(lambda: events().get("line-1", 0) >= 4, timeout=60,
                   what=f"events from line-1\n{log.read_text(errors='replace')[-3000:]}")
        with psycopg.connect(local_db) as conn:
            online = {r[0] for r in conn.execute("SELECT id FROM station WHERE online")}
            assert online == {"line-1", "stall-1"}
            assert conn.execute("SELECT count(*) FROM event WHERE type = 'activated'").fetchone()[0] >= 1
        # The stations' port speaks TLS only; the plain one is for the hub's processes.
        conf = (tmp_path / "instance/broker/mosquitto.conf").read_text()
        assert f"listener {tls_port} 127.0.0.1\ncafile" in conf and f"listener {internal} 127.0.0.1" in conf
        assert 'tls_ca = "' in (tmp_path / "demo/line-1.toml").read_text()
        # and the hub answers under gunicorn.
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/.well-known/gs1resolver", timeout=10) as r:
            assert r.status == 200
        text = log.read_text(errors="replace")
        for name in ("broker", "hub", "ingest1", "ingest2", "line1", "stall1"):
            assert re.search(rf"{name}\.1 +\| ", text), f"{name} did not start"
        assert "exited with code" not in text.split("ingestor connected")[0]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        time.sleep(0.5)
