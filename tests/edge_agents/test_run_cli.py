"""`loopmeter agent run`: one structured line per event, and an exit code that says how it went."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from adapters.errors import FAILED, UNAVAILABLE
from edge_agents.cli import app
from loopmeter.services import LocalServices, free_ports

EXAMPLES = Path(__file__).parents[2] / "edge_agents" / "examples"
runner = CliRunner()


def _events(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, object]]]:
    return [(r.getMessage(), getattr(r, "fields", {})) for r in caplog.records
            if r.name.startswith("edge_agents")]


def _run(example: Path, broker: str, state: Path, seconds: float) -> tuple[int, str]:
    result = runner.invoke(app, ["run", "--config", str(example), "--duration", str(seconds)],
                           env={"LOOPMETER_AGENT_MQTT__URL": broker,
                                "LOOPMETER_AGENT_STATE_DIR": str(state)})
    return result.exit_code, result.output


def test_a_broker_that_never_answers_is_logged_and_exits_3(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    [port] = free_ports(1)
    code, output = _run(EXAMPLES / "simulated-crusher.yaml", f"mqtt://127.0.0.1:{port}",
                        tmp_path, 1.5)
    assert code == UNAVAILABLE, output
    assert "never reached the broker" in output and "Traceback" not in output
    events = _events(caplog)
    names = [name for name, _ in events]
    assert names[0] == "start" and "cannot connect" in names and names[-1] == "exit"
    assert events[-1][1]["code"] == UNAVAILABLE
    assert all("backlog" in values for _, values in events)


def test_a_driver_that_fails_ends_the_run_with_exit_1(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    (tmp_path / "broken_plc.py").write_text(
        "def read(names, now_ms):\n    raise OSError('the PLC does not answer')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = yaml.safe_load((EXAMPLES / "callable-furnace.yaml").read_text())
    config["driver"]["target"] = "broken_plc:read"
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    [port] = free_ports(1)
    code, output = _run(path, f"mqtt://127.0.0.1:{port}", tmp_path / "state", 30)
    assert code == FAILED, output
    assert "the agent failed: OSError: the PLC does not answer" in output
    assert "agent failed" in [name for name, _ in _events(caplog)]


@pytest.mark.integration
def test_a_run_logs_start_connected_and_exit(
        services: LocalServices, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    code, output = _run(EXAMPLES / "simulated-crusher.yaml", services.mqtt_url, tmp_path, 2)
    assert code == 0, output
    events = dict(_events(caplog))
    assert {"start", "connected", "exit"} <= set(events)
    assert events["connected"]["backlog"] == 0
    assert events["exit"]["code"] == 0
