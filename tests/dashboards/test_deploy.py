"""The docker-compose stack: the compose file, Grafana's provisioning, and the broker setup.

Docker cannot run here, so the compose file is validated by Debian's `docker-compose config`
and cross-checked against the code (settings names, provisioning paths); the broker's
configuration and account script run for real against a local Mosquitto 2.
"""

from __future__ import annotations

import getpass
import importlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from carbon.settings import CarbonSettings
from dashboards.panels import DATASOURCE_UID
from gateway.core.config import GatewaySettings
from ingest_service.settings import IngestSettings
from loopmeter.services import free_ports, port_open
from tests.support.live import wait_for

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROVISIONING = ROOT / "dashboards" / "provisioning"
MOSQUITTO = ROOT / "deploy" / "mosquitto"
ENV_EXAMPLE = ROOT / ".env.example"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def _env_example() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.mark.skipif(shutil.which("docker-compose") is None,
                    reason="needs Debian's docker-compose (apt-get install docker-compose)")
def test_compose_file_is_valid_with_the_example_env(tmp_path: Path) -> None:
    def config(env_file: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker-compose", "-f", str(COMPOSE), "--env-file", str(env_file),
                               "config", "-q"], capture_output=True, text=True, check=False)

    result = config(ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    (tmp_path / "empty.env").touch()
    no_secrets = config(tmp_path / "empty.env")
    assert no_secrets.returncode != 0
    assert re.search(r"set MQTT_\w+_PASSWORD in .env", no_secrets.stderr), no_secrets.stderr


def test_every_variable_the_compose_file_reads_is_in_the_env_example() -> None:
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text(encoding="utf-8")))
    assert used <= set(_env_example()), used - set(_env_example())


def test_services_wait_for_what_they_need() -> None:
    services = _compose()["services"]
    assert all("healthcheck" in services[name] for name in
               ("mosquitto", "influxdb", "grafana", "ingest", "carbon", "gateway"))
    assert services["ingest"]["depends_on"] == {
        "mqtt-accounts": {"condition": "service_completed_successfully"},
        "influxdb": {"condition": "service_healthy"}}
    assert services["grafana"]["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert services["simulator"]["depends_on"]["ingest"]["condition"] == "service_healthy"


# The `loopmeter` sub-apps the compose services run, by the name the root command gives them.
SUBCOMMANDS = {"ingest": "ingest_service.cli", "carbon": "carbon.cli",
               "gateway": "gateway.cli", "sim": "simulators.cli"}


def _loopmeter_services() -> dict[str, list[str]]:
    services = _compose()["services"]
    return {name: service["command"] for name, service in services.items()
            if service.get("image") == "loopmeter:local"}


@pytest.mark.parametrize("service", sorted(_loopmeter_services()))
def test_every_service_runs_a_real_loopmeter_command(service: str) -> None:
    group_name, command_name, *arguments = _loopmeter_services()[service]
    group = typer.main.get_group(importlib.import_module(SUBCOMMANDS[group_name]).app)
    command = group.commands[command_name]
    # Parsing checks every option name and value without running the command.
    command.make_context(f"loopmeter {group_name} {command_name}", list(arguments))


def test_the_dockerfile_runs_the_loopmeter_command() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["loopmeter"]' in dockerfile and "FROM python:3.11-slim" in dockerfile
    assert "loopmeter = \"loopmeter.cli:main\"" in (ROOT / "pyproject.toml").read_text()


def _settings_env(service: str, prefix: str) -> dict[str, str]:
    environment = _compose()["services"][service]["environment"]
    example = _env_example()

    def resolve(value: str) -> str:
        name = value.removeprefix("${").split(":", 1)[0].rstrip("}")
        return example[name] if value.startswith("${") else value

    return {k: resolve(str(v)) for k, v in environment.items() if k.startswith(prefix)}


def _read(settings: Any, env_name: str, prefix: str) -> Any:
    value = settings
    for part in env_name.removeprefix(prefix).lower().split("__"):
        value = getattr(value, part)
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


@pytest.mark.parametrize(("service", "prefix", "model"), [
    ("ingest", "LOOPMETER_INGEST_", IngestSettings),
    ("gateway", "LOOPMETER_GATEWAY_", GatewaySettings),
    ("carbon", "LOOPMETER_CARBON_", CarbonSettings),
])
def test_compose_environment_names_real_settings(service: str, prefix: str, model: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    env = _settings_env(service, prefix)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = model()
    for name, value in env.items():
        assert str(_read(settings, name, prefix)).lower() == value.lower(), name


def test_grafana_provisioning_matches_the_dashboards_and_the_compose_mounts() -> None:
    datasource = yaml.safe_load((PROVISIONING / "datasources" / "loopmeter.yaml").read_text())
    (source,) = datasource["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "influxdb"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"]["httpHeaderValue1"].startswith("Token ${")
    grafana = _compose()["services"]["grafana"]
    assert {"LOOPMETER_INFLUX_URL", "LOOPMETER_INFLUX_DATABASE",
            "LOOPMETER_INFLUX_TOKEN"} <= set(grafana["environment"])
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "loopmeter.yaml").read_text())
    path = providers["providers"][0]["options"]["path"]
    assert f"./dashboards/generated:{path}:ro" in grafana["volumes"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards" / "generated" / Path(home).name).is_file()


# --- the broker: mosquitto.conf, the first-start init and accounts.sh, for real ----------

ADMIN = ("admin", "admin-secret")
PASSWORDS = {"MQTT_INGEST_PASSWORD": "ingest-secret", "MQTT_SIMULATOR_PASSWORD": "sim-secret",
             "MQTT_GATEWAY_PASSWORD": "gateway-secret"}


def _dynsec_plugin() -> str:
    found = sorted(Path("/usr/lib").glob("*/mosquitto_dynamic_security.so"))
    assert found, "needs Mosquitto 2's dynamic-security plugin (Debian package mosquitto)"
    return str(found[0])


def _local_config(home: Path, port: int) -> str:
    """deploy/mosquitto/mosquitto.conf with the container's paths mapped into `home`."""
    text = (MOSQUITTO / "mosquitto.conf").read_text(encoding="utf-8")
    text = text.replace("/mosquitto/data/", f"{home}/").replace(
        "/usr/lib/mosquitto_dynamic_security.so", _dynsec_plugin())
    text = text.replace("listener 1883", f"listener {port} 127.0.0.1")
    return text + f"user {getpass.getuser()}\n"


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    wait_for(lambda: port_open(port) or process.poll() is not None, 10)
    assert port_open(port), "the broker did not start"


@pytest.fixture
def compose_broker(tmp_path: Path) -> Iterator[int]:
    """Mosquitto 2 started like the compose service: dynsec file created, then the broker."""
    port = free_ports(1)[0]
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(tmp_path / "dynamic-security.json"),
                    *ADMIN], check=True, capture_output=True)
    (tmp_path / "mosquitto.conf").write_text(_local_config(tmp_path, port), encoding="utf-8")
    process = subprocess.Popen(["mosquitto", "-c", str(tmp_path / "mosquitto.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def _accounts(port: int, admin_password: str = ADMIN[1]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(port),
           "MQTT_ADMIN_USERNAME": ADMIN[0], "MQTT_ADMIN_PASSWORD": admin_password, **PASSWORDS}
    return subprocess.run(["sh", str(MOSQUITTO / "accounts.sh")], env=env, capture_output=True,
                          text=True, check=False, timeout=60)


def _client(port: int, login: tuple[str, str] | None,
            client_id: str = "") -> tuple[Client, ReasonCode]:
    """A running client, and the broker's answer to its CONNECT."""
    client = Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=MQTTProtocolVersion.MQTTv5)
    answers: list[ReasonCode] = []
    answered = threading.Event()

    def on_connect(_c: Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        answers.append(reason)
        answered.set()

    client.on_connect = on_connect
    if login:
        client.username_pw_set(*login)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert answered.wait(5), "no CONNACK"
    return client, answers[0]


@pytest.mark.integration
def test_accounts_let_the_simulator_publish_and_ingest_share_a_subscription(
        compose_broker: int) -> None:
    first, again = _accounts(compose_broker), _accounts(compose_broker)
    assert first.returncode == 0 and again.returncode == 0, (first.stderr, again.stderr)
    assert _accounts(compose_broker, "wrong").returncode == 1
    received: list[MQTTMessage] = []
    arrived, subscribed = threading.Event(), threading.Event()
    ingest_login = ("ingest", PASSWORDS["MQTT_INGEST_PASSWORD"])
    impostor, refused = _client(compose_broker, ingest_login, "not-ingest")
    impostor.loop_stop()
    assert refused.is_failure, "the ingest login is pinned to its client id"
    ingest, _ = _client(compose_broker, ingest_login, "loopmeter-ingest-0")
    simulator, _ = _client(compose_broker, ("simulator", PASSWORDS["MQTT_SIMULATOR_PASSWORD"]))

    def on_message(_c: Client, _u: Any, message: MQTTMessage) -> None:
        received.append(message)
        arrived.set()

    ingest.on_message = on_message
    ingest.on_subscribe = lambda _c, _u, _m, reasons, _p: subscribed.set()
    ingest.subscribe("$share/ingest/loopmeter/#", qos=1)
    try:
        assert subscribed.wait(5)
        simulator.publish("loopmeter/v1/s1/l1/d1/data", b"{}", qos=1).wait_for_publish(5)
        assert arrived.wait(5), "the ingest login did not receive the simulator's message"
        assert received[0].topic == "loopmeter/v1/s1/l1/d1/data"
    finally:
        for client in (ingest, simulator):
            client.disconnect()
            client.loop_stop()


@pytest.mark.integration
def test_the_broker_refuses_anonymous_clients(compose_broker: int) -> None:
    client, reason = _client(compose_broker, None)
    client.loop_stop()
    assert reason.is_failure and reason.getName() == "Not authorized"
