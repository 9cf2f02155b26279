"""The conformance kit on a real broker: the reference agent passes, broken ones fail the
clause that names their defect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from adapters.clock import Clock, SystemClock
from adapters.mqtt import MqttSettings, Session, connect, new_client
from contract import DataMessage, DeviceId, MessageKind, Sample, encode
from edge_agents.conformance import CheckSettings, Observation, Verdict, check_all
from edge_agents.conformance.cli import app
from edge_agents.conformance.watch import Watcher
from edge_agents.driver import Reading
from loopmeter.services import LocalServices
from tests.edge_agents.reference_agent import METER, Read, reference_agent, rising
from tests.support.live import wait_for

pytestmark = pytest.mark.integration
CLOCK = SystemClock()
RUN_S = 2.5


class SkewedClock:
    """The system clock, `offset_ms` off: a device whose clock was never set right."""

    def __init__(self, offset_ms: int) -> None:
        self._offset_ms = offset_ms

    def now_ms(self) -> int:
        return CLOCK.now_ms() + self._offset_ms

    def monotonic(self) -> float:
        return CLOCK.monotonic()

    def sleep(self, seconds: float) -> None:
        CLOCK.sleep(seconds)


def _falling(names: Sequence[str], now_ms: int) -> Reading:
    return {"power_kw": 42.0, "energy_kwh": 1e6 - (now_ms % 10**8) / 1000}


def _run_agent(url: str, device: DeviceId, state: Path, *, clock: Clock = CLOCK,
               read: Read = rising, power_unit: str = "kW", seconds: float = RUN_S) -> None:
    agent = reference_agent(url, device, state, clock=clock, read=read, power_unit=power_unit)
    agent.start()
    CLOCK.sleep(seconds)
    agent.stop()


def _topics_seen(suffix: str, count: int) -> Callable[[list[Observation]], bool]:
    return lambda seen: sum(o.topic.endswith(suffix) for o in seen) >= count


SAID_GOODBYE = _topics_seen("/death", 1)  # an agent's run ends with its death message


def _watched(url: str, device: DeviceId, run: Callable[[], None],
             done: Callable[[list[Observation]], bool] = SAID_GOODBYE) -> dict[str, Verdict]:
    """The verdicts on what `run` published, once the watcher has seen it end (`done`)."""
    watcher = Watcher(MqttSettings(url=url), device, CLOCK)
    watcher.start()
    run()
    wait_for(lambda: done(watcher.seen()), 10, "the run's last messages at the watcher")
    observations = watcher.stop()
    return {r.clause: r.verdict for r in check_all(device, observations)}


def _failed(verdicts: dict[str, Verdict]) -> set[str]:
    return {clause for clause, verdict in verdicts.items() if verdict is Verdict.FAIL}


def test_the_reference_agent_passes_through_the_cli(
        services: LocalServices, unique_site: str, tmp_path: Path) -> None:
    device = DeviceId(unique_site, "line-1", "meter-1")
    agent = reference_agent(services.mqtt_url, device, tmp_path)
    agent.start()
    try:
        result = CliRunner().invoke(app, [
            "--device", f"{unique_site}/line-1/meter-1", "--broker", services.mqtt_url,
            "--duration", "3", "--json", str(tmp_path / "report.json")])
    finally:
        agent.stop()
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    verdicts = {c["clause"]: c["verdict"] for c in report["clauses"]}
    assert report["passed"] and report["failed"] == []
    assert {c for c, v in verdicts.items() if v == "pass"} >= {
        "messages.valid", "birth", "seq", "counters", "units", "ranges", "clock", "rates", "qos"}


def test_a_graceful_stop_says_goodbye_with_a_death_message(
        services: LocalServices, unique_site: str, tmp_path: Path) -> None:
    device = DeviceId(unique_site, "line-1", "meter-1")
    verdicts = _watched(services.mqtt_url, device,
                        lambda: _run_agent(services.mqtt_url, device, tmp_path, seconds=1.0))
    assert verdicts["will"] is Verdict.PASS


def test_an_agent_that_forgets_its_seq_fails_seq(
        services: LocalServices, unique_site: str, tmp_path: Path) -> None:
    device = DeviceId(unique_site, "line-1", "meter-1")

    def forgetful() -> None:
        _run_agent(services.mqtt_url, device, tmp_path / "first", seconds=1.5)
        _run_agent(services.mqtt_url, device, tmp_path / "lost-state", seconds=1.5)

    assert _failed(_watched(services.mqtt_url, device, forgetful,
                            _topics_seen("/death", 2))) == {"seq"}


@pytest.mark.parametrize(("defect", "clause"), [
    ("counter_backwards", "counters"), ("wrong_units", "units"), ("skewed_clock", "clock"),
])
def test_a_broken_agent_fails_the_clause_of_its_defect(
        services: LocalServices, unique_site: str, tmp_path: Path, defect: str,
        clause: str) -> None:
    device = DeviceId(unique_site, "line-1", "meter-1")
    url = services.mqtt_url
    runs: dict[str, Callable[[], None]] = {
        "counter_backwards": lambda: _run_agent(url, device, tmp_path, read=_falling),
        "wrong_units": lambda: _run_agent(url, device, tmp_path, power_unit="W"),
        "skewed_clock": lambda: _run_agent(url, device, tmp_path,
                                           clock=SkewedClock(600_000)),
    }
    failed = _failed(_watched(url, device, runs[defect]))
    assert clause in failed
    # A wrong unit also hides the declared periods; nothing else may fail.
    assert failed <= {clause, "rates"}


def test_a_device_without_birth_fails_birth(services: LocalServices, unique_site: str) -> None:
    device = DeviceId(unique_site, "line-1", "meter-1")
    settings = MqttSettings(url=services.mqtt_url)

    def birthless() -> None:
        session = Session(f"birthless-{unique_site}")
        client = new_client(settings, session)
        connect(client, settings, session)
        client.loop_start()
        now = CLOCK.now_ms()
        for seq in range(3):
            message = DataMessage(device_type=METER, seq=seq, samples=[
                Sample(ts=now + seq, values={"power_kw": 1.0})])
            info = client.publish(device.topic(MessageKind.DATA), encode(message), qos=1)
            info.wait_for_publish(5)
        client.disconnect()
        client.loop_stop()

    assert _failed(_watched(services.mqtt_url, device, birthless,
                            _topics_seen("/data", 3))) == {"birth"}


def test_the_last_will_of_a_killed_agent_passes_will(
        services: LocalServices, unique_site: str, tmp_path: Path) -> None:
    device = DeviceId(unique_site, "line-1", "meter-1")
    watcher = Watcher(MqttSettings(url=services.mqtt_url), device, CLOCK)
    watcher.start()
    agent = subprocess.Popen(
        [sys.executable, "-m", "tests.edge_agents.reference_agent", services.mqtt_url,
         f"{unique_site}/line-1/meter-1", str(tmp_path)], cwd=Path(__file__).parents[2])
    try:
        assert wait_for(lambda: any(o.topic.endswith("/data") for o in watcher.seen()))
    finally:
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait()
    assert wait_for(lambda: any(o.topic.endswith("/death") for o in watcher.seen()))
    results = check_all(device, watcher.stop(), CheckSettings(expect_death=True))
    assert {r.clause: r.verdict for r in results}["will"] is Verdict.PASS
    assert not [r for r in results if r.verdict is Verdict.FAIL]


def test_an_agent_run_from_yaml_on_a_simulated_crusher_passes(
        services: LocalServices, unique_site: str, tmp_path: Path) -> None:
    examples = Path(__file__).parents[2] / "edge_agents" / "examples"
    config = yaml.safe_load((examples / "simulated-crusher.yaml").read_text())
    config["agent"].update(site=unique_site, batch_s=1)
    config.update(mqtt={"url": services.mqtt_url}, state_dir=str(tmp_path / "queue"),
                  metrics=[{"name": m["name"], "period_s": 1} for m in config["metrics"]])
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    agent = subprocess.Popen([sys.executable, "-m", "edge_agents", "run", "--config", str(path)],
                             env={**os.environ, "LOOPMETER_AGENT_MQTT__URL": services.mqtt_url})
    try:
        result = CliRunner().invoke(app, [
            "--device", f"{unique_site}/fixed/crusher-1", "--broker", services.mqtt_url,
            "--duration", "6", "--json", str(tmp_path / "report.json")])
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert result.exit_code == 0, result.output
    assert report["passed"], report["failed"]
    verdicts = {c["clause"]: c["verdict"] for c in report["clauses"]}
    assert {c for c, v in verdicts.items() if v == "pass"} >= {
        "messages.valid", "birth", "seq", "counters", "units", "ranges", "clock", "rates", "qos"}
