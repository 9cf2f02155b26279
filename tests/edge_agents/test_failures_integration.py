"""Store-and-forward against the real Mosquitto: outages, kill -9, overflow."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from adapters.clock import SystemClock
from adapters.mqtt import MqttSettings
from contract import DataMessage, EquipmentType, StatusMessage
from edge_agents.agent import Agent, AgentConfig
from edge_agents.driver import CallableDriver, declare
from edge_agents.store import QUEUE_FULL, QueueSettings
from loopmeter.services import LocalServices
from tests.edge_agents.fakes import ramp
from tests.support.clock import FakeClock
from tests.support.live import Received, recording, wait_for

pytestmark = pytest.mark.integration
METER = EquipmentType.ELECTRICITY_METER
ROOT = Path(__file__).resolve().parents[2]


def _config(site: str, **options: object) -> AgentConfig:
    """No ingest runs in these tests: the broker's PUBACK ends delivery (confirm off)."""
    return AgentConfig.model_validate({"site": site, "line": "l1", "device": "m1",
                                       "device_type": METER, "confirm": {"enabled": False},
                                       **options})


def _driver(period_s: float) -> CallableDriver:
    return CallableDriver([declare(METER, "power_kw", period_s),
                           declare(METER, "energy_kwh", period_s)], ramp)


def _data(messages: list[Received]) -> dict[int, set[bytes]]:
    """Payloads by seq: a seq with two different payloads would be a reuse."""
    by_seq: dict[int, set[bytes]] = defaultdict(set)
    for message in messages:
        by_seq[DataMessage.model_validate_json(message.payload).seq].add(message.payload)
    return by_seq


def _samples(by_seq: dict[int, set[bytes]]) -> list[int]:
    return [s.ts for seq in sorted(by_seq) for payload in by_seq[seq]
            for s in DataMessage.model_validate_json(payload).samples]


def test_broker_outage_loses_nothing_and_duplicates_nothing(
        services: LocalServices, unique_site: str, tmp_path: Path) -> None:
    config = _config(unique_site, batch_s=0.2, tick_s=0.02,
                     backoff={"initial_s": 0.1, "max_s": 0.5})
    agent = Agent(config, _driver(0.05), MqttSettings(url=services.mqtt_url), SystemClock(),
                  tmp_path)
    with recording(services.mqtt_url, f"{config.device_id.prefix}/#") as recorder:
        agent.start()
        assert wait_for(lambda: agent.stats.acked_messages >= 3)
        with services.stopped("mosquitto"):
            offline_from = agent.stats.messages
            assert wait_for(lambda: agent.stats.messages >= offline_from + 5)
        assert wait_for(lambda: agent.stats.acked_messages >= offline_from + 8)
        agent.stop()
        assert wait_for(lambda: len(_data(recorder.snapshot("/data"))) == agent.stats.messages)
        data = recorder.snapshot("/data")

    by_seq = _data(data)
    assert sorted(by_seq) == list(range(agent.stats.messages))
    assert all(len(payloads) == 1 for payloads in by_seq.values()), "a seq was reused"
    stamps = _samples(by_seq)
    assert len(stamps) == len(set(stamps)) == agent.stats.acked_samples
    assert stamps == sorted(stamps)
    # What was sampled after the last message was formed waits in the queue for the next run.
    assert len(_queued(tmp_path)[0]) + len(stamps) == agent.stats.samples
    messages = [DataMessage.model_validate_json(m.payload) for m in data]
    assert len(messages) == len(by_seq), "a message arrived twice"
    historical = [m.seq for m in messages if m.historical]
    assert historical and historical == sorted(historical)
    assert any(m.historical for m in messages)


def _agent_file(path: Path, site: str, url: str, state: Path) -> Path:
    config = {
        "agent": {"site": site, "line": "l1", "device": "m1", "device_type": METER.value,
                  "batch_s": 0.2, "tick_s": 0.02, "replay": {"samples_per_s": 40},
                  "backoff": {"initial_s": 0.1, "max_s": 0.3}},
        "mqtt": {"url": url}, "state_dir": str(state),
        "driver": {"kind": "callable", "target": "tests.edge_agents.fakes:ramp"},
        "metrics": [{"name": "power_kw", "period_s": 0.05}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _spawn(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "edge_agents", "run", "--config",
                             str(config)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _queued(state: Path) -> tuple[set[int], int]:
    """Sample timestamps in the queue of a dead agent, and its next seq."""
    with sqlite3.connect(state / "queue.sqlite") as db:
        stamps = {ts for (ts,) in db.execute("SELECT ts FROM samples")}
        for (payload,) in db.execute("SELECT payload FROM outbox WHERE samples > 0"):
            stamps |= {s.ts for s in DataMessage.model_validate_json(payload).samples}
        row = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
    return stamps, int(row[0]) if row else 0


def _next_seq(state: Path) -> int:
    """The queue's next seq; 0 while the agent is still creating its queue."""
    try:
        return _queued(state)[1]
    except sqlite3.OperationalError:  # the file exists, its tables do not yet
        return 0


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def test_kill_9_mid_backlog_loses_nothing_and_reuses_no_seq(
        services: LocalServices, unique_site: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = _agent_file(tmp_path / "agent.yaml", unique_site, services.mqtt_url, state)
    prefix = f"loopmeter/v1/{unique_site}/l1/m1"
    with recording(services.mqtt_url, f"{prefix}/#") as recorder:
        with services.stopped("mosquitto"):
            agent = _spawn(config)
            try:
                assert wait_for(lambda: (state / "queue.sqlite").exists())
                assert wait_for(lambda: _next_seq(state) >= 15)  # a backlog of messages
            finally:
                _kill(agent)
        before_kill, seq_at_kill = _queued(state)
        agent = _spawn(config)  # replays at 40 samples/s: killed again mid-backlog
        try:
            assert wait_for(lambda: len(recorder.snapshot("/data")) >= 3)
        finally:
            _kill(agent)
        mid_backlog, _ = _queued(state)
        assert mid_backlog, "the second kill should come while a backlog remains"
        agent = _spawn(config)
        try:
            assert wait_for(lambda: before_kill <= set(_samples(_data(
                recorder.snapshot("/data")))), timeout_s=30)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(10)
        data = recorder.snapshot("/data")

    by_seq = _data(data)
    assert all(len(payloads) == 1 for payloads in by_seq.values()), "a seq was reused"
    stamps = _samples(by_seq)
    assert len(stamps) == len(set(stamps))
    assert before_kill <= set(stamps)
    assert max(by_seq) >= seq_at_kill


def test_overflow_drops_the_oldest_and_counts_them(
        services: LocalServices, unique_site: str, tmp_path: Path) -> None:
    clock = FakeClock(SystemClock().now_ms())
    config = _config(unique_site, batch_s=1, max_samples_per_message=5, status_period_s=3600,
                     queue=QueueSettings(max_samples=20), backoff={"initial_s": 1, "max_s": 1})
    agent = Agent(config, _driver(1.0), MqttSettings(url=services.mqtt_url), clock, tmp_path)
    with recording(services.mqtt_url, f"{config.device_id.prefix}/#") as recorder:
        first = clock.now
        with services.stopped("mosquitto"):
            for _ in range(53):
                agent.tick()
                clock.advance(1.0)
        agent.flush()
        assert wait_for(lambda: _tick_until(agent, clock))
        assert wait_for(lambda: len(recorder.snapshot("/status")) >= 1)
        data, status = recorder.snapshot("/data"), recorder.snapshot("/status")
        dropped = agent.store.dropped[QUEUE_FULL]
        agent.stop()

    stamps = _samples(_data(data))
    assert agent.stats.samples == 53
    assert len(stamps) + dropped == 53
    assert dropped >= 53 - 20 - 5
    assert stamps == [first + 1000 * i for i in range(dropped, 53)], "not the oldest dropped"
    report = StatusMessage.model_validate(json.loads(status[0].payload))
    assert report.dropped == {QUEUE_FULL: dropped}


def _tick_until(agent: Agent, clock: FakeClock) -> bool:
    agent.deliver()
    clock.advance(0.5)
    return agent.idle
