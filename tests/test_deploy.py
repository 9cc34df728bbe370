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
ONE_SHOT = {"certs", "migrate", "seed"}


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


def compose_command() -> list[str]:
    """`docker compose` when the client has the plugin, else Debian's docker-compose 1.29
    (scripts/install.sh installs it); neither needs a Docker engine for `config`."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], check=False,
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor docker-compose is installed: run scripts/install.sh")


def compose_config() -> tuple[dict, str]:
    """The file as Compose resolves it with the .env.example values (and nothing from this
    process's environment, which would otherwise win over the env file)."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    r = subprocess.run([*compose_command(), "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config"],
                       capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout), r.stderr


def _mounts(service: dict) -> list[str]:
    """source:target of each volume, in either client's output form."""
    out = []
    for v in service.get("volumes", []):
        out.append(f"{v['source']}:{v['target']}" if isinstance(v, dict) else ":".join(v.split(":")[:2]))
    return out


def test_docker_compose_accepts_the_file_with_the_example_env() -> None:
    resolved, warnings = compose_config()
    assert "is not set" not in warnings, warnings  # every variable has a value in .env.example
    services = resolved["services"]
    env = env_example()
    # The whole topology, every long-running service with a health check;
    assert set(services) == LONG_RUNNING | ONE_SHOT
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    # two ingestors, identical, so the broker shares one subscription between them;
    ingest = [services[f"ingest-{i}"] for i in (1, 2)]
    assert ingest[0]["command"] == ingest[1]["command"] == ["tem", "ingest"]
    assert ingest[0]["environment"] == ingest[1]["environment"]
    assert ingest[0]["environment"]["MQTT_URL"] == "mqtt://mosquitto:1883"
    # migrations in one one-shot job, which the hub and the ingestors wait for;
    upgrades = [n for n, s in services.items() if "upgrade" in (s.get("command") or [])]
    assert upgrades == ["migrate"] and services["migrate"]["restart"] == "no"
    for name in ("hub", "ingest-1", "ingest-2"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # named volumes for the database, the instance directory and the CA;
    assert {"pgdata", "instance", "certs"} <= set(resolved["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in _mounts(services["db"])
    assert "certs:/certs" in _mounts(services["mosquitto"]) and "certs:/certs" in _mounts(services["hub"])
    # the broker's TLS listener on the published port, and what enrolment codes hand stations.
    ports = [(int(p["published"]), int(p["target"])) for p in services["mosquitto"]["ports"]]
    assert ports == [(int(env["TEM_MQTTS_PORT"]), 8883)]
    broker_env = services["mosquitto"]["environment"]
    assert (broker_env["TEM_BROKER_PORT"], broker_env["TEM_BROKER_TLS_DIR"]) == ("8883", "/certs")
    hub_env = services["hub"]["environment"]
    assert (hub_env["TEM_STATION_MQTT_HOST"], str(hub_env["TEM_STATION_MQTT_PORT"]),
            hub_env["TEM_STATION_TLS_CA"]) == (env["TEM_BROKER_HOSTNAME"], env["TEM_MQTTS_PORT"], "/certs/ca.crt")
    assert hub_env["DATABASE_URL"] == env["DATABASE_URL"]


def test_compose_has_every_service_of_the_topology() -> None:
    services = compose()["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT
    assert [services[f"ingest-{i}"]["command"] for i in (1, 2)] == [["tem", "ingest"]] * 2
    assert services["mosquitto"]["command"] == ["tem", "broker"]  # follows the station registry by itself
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
