"""Every failure a user can cause ends as `error:`/`hint:` lines and a documented exit code.

Each case goes through the whole `loopmeter` command (typer's runner, or a real process for
--debug), and checks the message, the exit code and that no traceback is shown.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from typer.testing import CliRunner

from adapters import errors
from adapters.cli_errors import explain
from carbon import CarbonSettings
from carbon.cli import INFLUX_URL_VARIABLE
from loopmeter.cli import app
from loopmeter.services import LocalServices, free_ports
from tests.servers import DYNSEC_INGEST

runner = CliRunner()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        yield squatter.getsockname()[1]


def invoke(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, args, env={"COLUMNS": "200", **(env or {})})
    return result.exit_code, result.output


def assert_explained(outcome: tuple[int, str], code: int, *fragments: str) -> None:
    exit_code, output = outcome
    assert exit_code == code, output
    assert "Traceback" not in output and "╭" not in output, output
    lines = [line for line in output.splitlines() if line.startswith(("error:", "hint:"))]
    assert lines and lines[0].startswith("error:"), output
    assert len(lines) <= 2, output
    for fragment in fragments:
        assert fragment in output, output


def test_influxdb_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    assert_explained(invoke(["carbon", "close", "--site", "s", "--period", "2026-10-05"], {
        INFLUX_URL_VARIABLE: url, "LOOPMETER_CARBON_LEDGER_PATH": str(tmp_path / "l.sqlite")}),
        errors.UNAVAILABLE, f"InfluxDB unreachable at {url}", "loopmeter services up",
        f"set {INFLUX_URL_VARIABLE}")
    monkeypatch.setenv(INFLUX_URL_VARIABLE, url)  # the variable the hint names sets the URL
    assert CarbonSettings().influx.url == url


@pytest.mark.parametrize("command", [
    ["conformance", "--device", "s/l/d", "--duration", "1"],
    # Said at once, not as "ingest did not confirm" after the whole run.
    ["sim", "run", "--scenario", "construction-waste", "--duration", "1h"],
])
def test_broker_down(command: list[str]) -> None:
    broker = f"mqtt://127.0.0.1:{_closed_port()}"
    assert_explained(invoke([*command, "--broker", broker]), errors.UNAVAILABLE,
                     f"cannot connect to {broker}", "give --broker")


@pytest.mark.parametrize("command", [["conformance", "--device", "s/l/d"],
                                     ["sim", "run", "--scenario", "construction-waste"]])
def test_a_broker_url_that_is_not_one_names_the_option(command: list[str]) -> None:
    exit_code, output = invoke([*command, "--broker", "http://broker:1883"])
    assert exit_code == errors.USAGE and "--broker" in output and "mqtt://host" in output
    assert "Traceback" not in output and "internal error" not in output


def test_unknown_scenario(tmp_path: Path) -> None:
    assert_explained(invoke(["sim", "truth", "--scenario", "no-such-plant", "--output",
                             str(tmp_path / "t.csv")]),
                     errors.USAGE, "no scenario 'no-such-plant'", "construction-waste")


def test_scenario_that_is_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsite: [\n")
    assert_explained(invoke(["sim", "truth", "--scenario", str(bad), "--output",
                             str(tmp_path / "t.csv")]),
                     errors.USAGE, f"{bad} is not valid YAML")


def test_scenario_with_an_unknown_fault_kind(tmp_path: Path) -> None:
    shipped = Path("simulators/scenarios/construction-waste.yaml").read_text()
    assert "kind: " in shipped
    bad = tmp_path / "faulty.yaml"
    bad.write_text(shipped.replace("kind: ", "kind: no_such_fault_", 1))
    assert_explained(invoke(["sim", "truth", "--scenario", str(bad), "--output",
                             str(tmp_path / "t.csv")]),
                     errors.USAGE, str(bad), "no_such_fault_")


def test_missing_agent_file(tmp_path: Path) -> None:
    missing = tmp_path / "agent.yaml"
    assert_explained(invoke(["agent", "check", "--config", str(missing)]),
                     errors.USAGE, f"cannot read {missing}")


@pytest.mark.parametrize(("args", "variable", "value"), [
    (["ingest", "dlq", "list"], "LOOPMETER_INGEST_WORKER", "abc"),
    (["carbon", "factors"], "LOOPMETER_CARBON_HTTP_PORT", "99999"),
    (["gateway", "token", "list"], "LOOPMETER_GATEWAY_MQTT__KEEPALIVE_S", "soon"),
    (["ingest", "dlq", "list"], "LOOPMETER_INGEST_MQTT__URL", "broker:1883"),
])
def test_bad_environment_variable(args: list[str], variable: str, value: str,
                                  tmp_path: Path) -> None:
    env = {variable: value, "LOOPMETER_INGEST_STATE_DIR": str(tmp_path),
           "LOOPMETER_GATEWAY_REGISTRY_PATH": str(tmp_path / "registry.sqlite")}
    assert_explained(invoke(args, env), errors.USAGE, f"invalid setting {variable}='{value}'",
                     "environment variable")


@pytest.mark.parametrize(("args", "named"), [
    (["carbon", "close", "--site", "s", "--period", "someday"], "--period"),
    (["carbon", "report", "--site", "s", "--period", "2026-13"], "is not a period"),
    (["ingest", "dlq", "list", "--worker", "-1"], "--worker"),
    (["services", "up", "--mqtt-port", "99999"], "--mqtt-port"),
    (["demo", "--influx-port", "0"], "--influx-port"),
    (["sim", "run", "--scenario", "construction-waste", "--speed", "-1"], "--speed"),
])
def test_bad_option_value(args: list[str], named: str) -> None:
    exit_code, output = invoke(args)
    assert exit_code == errors.USAGE
    assert named in output and "Traceback" not in output


def test_a_bug_is_an_internal_error_that_points_at_debug() -> None:
    explanation = explain(ZeroDivisionError("division by zero"))
    assert explanation.exit_code == errors.INTERNAL
    assert "ZeroDivisionError" in explanation.message
    assert explanation.hint and "--debug" in explanation.hint


def test_exit_codes_are_in_the_help() -> None:
    exit_code, output = invoke(["--help"])
    assert exit_code == 0
    for code in errors.EXIT_CODES:
        assert f"{code} " in output


def _loopmeter(*args: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loopmeter.cli", *args], text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, check=False)


def test_debug_shows_the_traceback_and_only_then(tmp_path: Path) -> None:
    args = ["sim", "truth", "--scenario", "no-such-plant", "--output", str(tmp_path / "t")]
    quiet = _loopmeter(*args)
    assert quiet.returncode == errors.USAGE
    assert quiet.stderr.startswith("error: no scenario") and "Traceback" not in quiet.stderr
    for debug in (_loopmeter("--debug", *args), _loopmeter(*args, env={"LOOPMETER_DEBUG": "1"})):
        assert debug.returncode != 0
        assert "Traceback" in debug.stderr and "ScenarioError" in debug.stderr


@pytest.mark.integration
def test_ingest_http_port_in_use(services: LocalServices, taken_port: int,
                                 tmp_path: Path) -> None:
    assert_explained(invoke(["ingest", "run"], {
        "LOOPMETER_INGEST_MQTT__URL": services.mqtt_url,
        "LOOPMETER_INGEST_INFLUX__URL": services.influx_url,
        "LOOPMETER_INGEST_STATE_DIR": str(tmp_path),
        "LOOPMETER_INGEST_HTTP_PORT": str(taken_port)}),
        errors.PORT_IN_USE, f"port {taken_port} is already in use", "LOOPMETER_INGEST_HTTP_PORT")


@pytest.mark.integration
def test_services_up_on_a_taken_port_names_the_option_and_starts_nothing(
        taken_port: int, tmp_path: Path) -> None:
    backend, front = free_ports(2)
    outcome = invoke(["services", "up", "--state-dir", str(tmp_path), "--mqtt-port",
                      str(taken_port), "--influx-port", str(front), "--influx-backend-port",
                      str(backend)])
    assert_explained(outcome, errors.PORT_IN_USE, f"port {taken_port}", "--mqtt-port")
    exit_code, output = invoke(["services", "status", "--state-dir", str(tmp_path)])
    assert exit_code == errors.FAILED
    assert "running" not in output.replace("stopped", "")


@pytest.mark.integration
def test_conformance_with_a_wrong_password_says_login_refused(
        dynsec_services: LocalServices) -> None:
    assert_explained(invoke(["conformance", "--device", "s/l/d", "--broker",
                             dynsec_services.mqtt_url, "--duration", "1", "--username",
                             DYNSEC_INGEST.username, "--password", "wrong"]),
                     errors.REFUSED, "login refused", DYNSEC_INGEST.username)


@pytest.mark.integration
def test_gateway_port_in_use(taken_port: int, tmp_path: Path) -> None:
    assert_explained(invoke(["gateway", "run", "--port", str(taken_port)], {
        "LOOPMETER_GATEWAY_REGISTRY_PATH": str(tmp_path / "registry.sqlite"),
        "LOOPMETER_GATEWAY_MQTT__URL": f"mqtt://127.0.0.1:{_closed_port()}"}),
        errors.PORT_IN_USE, f"port {taken_port} is already in use", "--port")


def test_services_up_help_says_each_default() -> None:
    exit_code, output = invoke(["services", "up", "--help"])
    assert exit_code == 0
    assert "else 18830" in output and "else 18086" in output and "else 18087" in output


def test_library_loggers_stay_at_warning_unless_debugging() -> None:
    assert invoke(["contract", "catalogue"])[0] == 0
    assert logging.getLogger("httpx").level == logging.WARNING
    assert invoke(["--debug", "contract", "catalogue"])[0] == 0
    assert logging.getLogger("httpx").level == logging.DEBUG
    assert invoke(["contract", "catalogue"])[0] == 0
    assert logging.getLogger("httpx").level == logging.WARNING


def test_grafana_down() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    assert_explained(invoke(["dashboards", "push", "--url", url, "--token", "t"]),
                     errors.UNAVAILABLE, "Grafana unreachable: ", "Connection refused", "--url")


@pytest.mark.integration
def test_modbus_port_in_use(taken_port: int) -> None:
    assert_explained(invoke(["sim", "modbus", "--scenario", "construction-waste", "--device",
                             "fixed/main-meter", "--port", str(taken_port)]),
                     errors.PORT_IN_USE, f"port {taken_port} is already in use", "--port")


def test_gateway_registry_in_a_folder_that_cannot_exist(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_explained(invoke(["gateway", "run", "--port", str(_closed_port())], {
        "LOOPMETER_GATEWAY_REGISTRY_PATH": str(blocker / "registry.sqlite")}),
        errors.USAGE, "cannot use", str(blocker))


class ProbeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROBE_")
    api_token: int = 0
    retries: int = 0


def test_a_bad_secret_is_named_but_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_API_TOKEN", "hunter2")
    monkeypatch.setenv("PROBE_RETRIES", "many")
    with pytest.raises(ValidationError) as raised:
        ProbeSettings()
    explanation = explain(raised.value)
    assert explanation.exit_code == errors.USAGE
    assert "PROBE_API_TOKEN:" in explanation.message and "hunter2" not in explanation.message
    assert "PROBE_RETRIES='many'" in explanation.message


def test_demo_with_an_unknown_scenario_starts_nothing(tmp_path: Path) -> None:
    assert_explained(invoke(["demo", "--scenario", "no-such-plant", "--state-dir",
                             str(tmp_path)]), errors.USAGE, "no scenario 'no-such-plant'")
    assert list(tmp_path.iterdir()) == []


def _command_paths() -> list[list[str]]:
    """Every command and group of `loopmeter`, as the words that reach it."""
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_every_command_has_a_help_that_works() -> None:
    paths = _command_paths()
    assert len(paths) > 30
    for path in paths:
        exit_code, output = invoke([*path, "--help"])
        assert exit_code == 0, (path, output)
        assert "Usage:" in output and "Traceback" not in output, path
