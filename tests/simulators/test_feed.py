"""Everything the simulators emit passes the v1 contract (ranges included)."""

from __future__ import annotations

from collections import Counter

import pytest

from contract import (
    BirthMessage,
    ContractError,
    DataMessage,
    EventMessage,
    MessageKind,
    decode,
)
from simulators import FaultKind, Plant, load_scenario
from simulators.faults import GARBAGE
from simulators.feed import PlantFeed
from tests.simulators.test_faults import Collect
from tests.simulators.test_scenarios import NAMES

DAY_MS = 86_400_000


def run_day(name: str, seed: int) -> tuple[Plant, Collect]:
    scenario = load_scenario(name)
    plant = Plant.from_scenario(scenario, seed)
    out = Collect()
    feed = PlantFeed(plant, out, plant.link_faults(), batch_s=600)
    feed.births()
    feed.advance_to(scenario.start_ms + DAY_MS)
    feed.finish()
    return plant, out


@pytest.mark.parametrize("name", NAMES)
def test_every_message_of_a_day_decodes(name: str) -> None:
    plant, out = run_day(name, seed=11)
    kinds: Counter[type] = Counter()
    for topic, payload in out.sent:
        if payload in GARBAGE:
            continue
        kinds[type(decode(topic, payload, now_ms=plant.now_ms).message)] += 1
    assert kinds[BirthMessage] == len(plant.devices)
    assert kinds[DataMessage] > 0
    assert kinds[EventMessage] > 0


def test_every_metric_a_device_declares_is_sent_and_nothing_else() -> None:
    plant, out = run_day("construction-waste", seed=2)
    sent: dict[str, set[str]] = {}
    for topic, payload in out.sent:
        message = decode(topic, payload, now_ms=plant.now_ms).message if topic.endswith(
            "/data") and payload not in GARBAGE else None
        if isinstance(message, DataMessage):
            sent.setdefault(topic, set()).update(n for s in message.samples for n in s.values)
    for device in plant.devices:
        assert sent[device.id.topic(MessageKind.DATA)] == {m.name for m in device.metrics}


def test_garbage_and_duplicates_arrive_as_logged() -> None:
    plant, out = run_day("industrial-park", seed=3)
    garbage = [(t, p) for t, p in out.sent if p in GARBAGE]
    for topic, payload in garbage:
        with pytest.raises(ContractError):
            decode(topic, payload, now_ms=plant.now_ms)
    assert len(garbage) == 4
    copies = Counter(out.sent)
    duplicated = sum(n - 1 for (t, p), n in copies.items() if p not in GARBAGE and n > 1)
    assert duplicated == plant.fault_log.count(FaultKind.DUPLICATE)


def test_sequence_numbers_increase_by_one_per_device() -> None:
    plant, out = run_day("secondary-aluminium", seed=5)
    seqs: dict[str, list[int]] = {}
    for topic, payload in out.sent:
        if topic.endswith("/data"):
            message = decode(topic, payload, now_ms=plant.now_ms).message
            assert isinstance(message, DataMessage)
            seqs.setdefault(topic, []).append(message.seq)
    for topic, numbers in seqs.items():
        assert sorted(set(numbers)) == list(range(max(numbers) + 1)), topic
