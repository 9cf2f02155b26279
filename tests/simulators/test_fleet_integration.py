"""A simulated crushing station's agents against the real Mosquitto."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from adapters.mqtt import MqttSettings
from contract import DataMessage, MessageKind, decode
from loopmeter.services import LocalServices
from simulators.clock import SimulatedClock
from simulators.faults import Fault, FaultKind
from simulators.fleet import FleetProgress, run_fleet
from simulators.plant import Plant
from simulators.scenario import load_scenario
from tests.support.live import Received, recording, wait_for

pytestmark = pytest.mark.integration
HOUR_MS = 3_600_000


def _plant(site: str) -> Plant:
    scenario = load_scenario("construction-waste").model_copy(update={"site": site})
    return Plant.from_scenario(scenario, seed=7)


def _data_by_device(messages: list[Received]) -> dict[str, list[DataMessage]]:
    by_device: dict[str, list[DataMessage]] = defaultdict(list)
    for message in messages:
        envelope = decode(message.topic, message.payload, now_ms=2**62)
        assert isinstance(envelope.message, DataMessage)
        assert message.qos == 1
        by_device[f"{envelope.topic.device.line}/{envelope.topic.device.device}"].append(
            envelope.message)
    return by_device


def test_every_formed_message_arrives_exactly_once(
        services: LocalServices, unique_site: str, tmp_path: Path) -> None:
    plant = _plant(unique_site)
    start = plant.now_ms
    clock = SimulatedClock(start, speed=2880)
    outage = Fault(FaultKind.NETWORK_DROP, start + HOUR_MS, start + HOUR_MS + HOUR_MS // 3,
                   device="fixed/crusher-1")
    seen: list[FleetProgress] = []
    with recording(services.mqtt_url, f"loopmeter/v1/{unique_site}/#") as recorder:
        result = run_fleet(plant, MqttSettings(url=services.mqtt_url), clock, 3 * 3600,
                           tmp_path, progress=seen.append, link_faults=[outage],
                           confirm=False)  # no ingest here: the broker's PUBACK is the end
        assert result.drained, result.progress
        formed = sum(d.messages for d in result.progress.devices)
        assert wait_for(lambda: len(recorder.snapshot("/data")) >= formed)
        births = recorder.snapshot("/birth")
        data = recorder.snapshot("/data")

    assert any(not d.online for p in seen for d in p.devices if d.key == "fixed/crusher-1")
    by_device = _data_by_device(data)
    assert set(by_device) == {d.key for d in result.progress.devices}
    for key, device in result.devices.items():
        messages = by_device[key]
        assert [m.seq for m in messages if not m.historical] == sorted(
            m.seq for m in messages if not m.historical), key
        # QoS 1 may redeliver a message in flight when the link dropped: same seq, same content.
        unique = {m.seq: m for m in messages}
        assert all(unique[m.seq] == m for m in messages), key
        assert sorted(unique) == list(range(device.messages)), key
        assert sum(len(m.samples) for m in unique.values()) == device.samples
        assert device.samples == device.acked_samples
    crusher = by_device["fixed/crusher-1"]
    historical = [m for m in crusher if m.historical]
    assert historical, "the outage should have left a backlog"
    # Formed offline: from the last batch period before the outage until the reconnect, which
    # follows the outage's end within a real-time backoff of 50 ms (144 s of plant time) plus
    # the connect's round trip.
    assert all(outage.at_ms - 60_000 <= s.ts < (outage.until_ms or 0) + 600_000
               for m in historical for s in m.samples)
    assert [m.seq for m in historical] == sorted(m.seq for m in historical)
    # A birth on every connect: the crusher reconnected after its outage.
    crusher_births = [json.loads(b.payload) for b in births if "/crusher-1/" in b.topic]
    assert len(crusher_births) >= 2
    assert all(b.topic.endswith(MessageKind.BIRTH.value) for b in births)
