"""`loopmeter agent check`: the examples validate; a bad file is explained, option by option."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edge_agents.cli import app
from edge_agents.config import load

EXAMPLES = sorted((Path(__file__).parents[2] / "edge_agents" / "examples").glob("*.yaml"))
MODBUS_METER = next(p for p in EXAMPLES if p.name == "modbus-main-meter.yaml")
SIMULATED = next(p for p in EXAMPLES if p.name == "simulated-crusher.yaml")
RUNNER = CliRunner()


@pytest.fixture
def maker_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The maker's module that callable-furnace.yaml names, importable for the test."""
    package = tmp_path / "acme_furnace"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plc.py").write_text("def read(names, now_ms):\n    return {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid(example: Path, maker_module: None) -> None:
    result = RUNNER.invoke(app, ["check", "--config", str(example)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: ")


def test_a_callable_driver_that_cannot_be_imported_fails_the_check(tmp_path: Path) -> None:
    example = next(p for p in EXAMPLES if p.name == "callable-furnace.yaml")
    broken = _broken(tmp_path, {"driver": {"kind": "callable",
                                           "target": "no_such_maker.plc:read"}}, example)
    result = RUNNER.invoke(app, ["check", "--config", str(broken)])
    assert result.exit_code == 2
    assert "driver.target: cannot import no_such_maker.plc:read" in result.output
    assert "Traceback" not in result.output


def _broken(tmp_path: Path, change: dict[str, object], example: Path = MODBUS_METER) -> Path:
    data = yaml.safe_load(example.read_text())
    data.update(change)
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("change", "explanation"), [
    ({"metrics": [{"name": "power_w"}]}, "'power_w' is not a electricity_meter metric"),
    ({"metrics": [{"name": "x_temp"}]}, "custom metric 'x_temp' needs a unit and a kind"),
    ({"metrics": [{"name": "power_kw"}, {"name": "power_kw"}]}, "each metric may be listed once"),
    ({"metrics": [{"name": "power_kw"}, {"name": "frequency_hz", "period_s": 0}]},
     "metrics.1.period_s: Input should be greater than 0"),
    ({"driver": {"kind": "modbus", "host": "m", "registers": [
        {"metric": "energy_kwh", "address": 72}]}}, "no register is mapped to ['current_a'"),
    ({"driver": {"kind": "modbus", "host": "m", "registers": [
        {"metric": "power_kw", "address": 70000}]}},
     "driver.modbus.registers.0.address: Input should be less than or equal to 65535"),
    ({"agent": {"site": "s", "line": "l", "device": "d", "device_type": "gas_meter",
                "batch": 5}}, "agent.batch: Extra inputs are not permitted"),
    ({"mqt": {"url": "mqtt://b"}}, "mqt: Extra inputs are not permitted"),
])
def test_a_broken_file_is_explained_with_exit_code_2(
        tmp_path: Path, change: dict[str, object], explanation: str) -> None:
    result = RUNNER.invoke(app, ["check", "--config", str(_broken(tmp_path, change))])
    assert result.exit_code == 2
    assert explanation in result.output


def test_the_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPMETER_AGENT_MQTT__URL", "mqtts://broker.example:8883")
    monkeypatch.setenv("LOOPMETER_AGENT_MQTT__PASSWORD", "s3cret")
    settings = load(MODBUS_METER)
    assert settings.mqtt.url == "mqtts://broker.example:8883"
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "s3cret"
    assert settings.agent.site == "hn-zz-01"


def _simulated(**driver: object) -> dict[str, object]:
    return {"driver": {"kind": "simulator", "scenario": "construction-waste",
                       "device": "fixed/crusher-1", **driver}}


@pytest.mark.parametrize(("change", "explanation"), [
    (_simulated(scenario="steelworks"), "driver.scenario: no scenario 'steelworks' (shipped:"),
    (_simulated(device="fixed/crusher-9"),
     "driver.device: 'fixed/crusher-9' is not in scenario 'construction-waste' (devices: "),
    (_simulated(device="fixed/main-meter"),
     "fixed/main-meter is a electricity_meter, but agent.device_type says crusher_station"),
    ({**_simulated(), "metrics": [{"name": "diesel_kg"}]},
     "metrics: fixed/crusher-1 does not measure ['diesel_kg']"),
    (_simulated(device="crusher-1"), "driver.simulator.device: String should match pattern"),
])
def test_a_simulated_device_that_does_not_fit_is_explained(
        tmp_path: Path, change: dict[str, object], explanation: str) -> None:
    result = RUNNER.invoke(app, ["check", "--config",
                                 str(_broken(tmp_path, change, SIMULATED))])
    assert result.exit_code == 2
    assert explanation in result.output
