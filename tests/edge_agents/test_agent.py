"""The agent's logic with a fake link and a clock that moves only when told."""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

from adapters.mqtt import MqttSettings
from contract import (
    BirthMessage,
    DataMessage,
    DeathMessage,
    EquipmentType,
    StatusMessage,
    decode,
)
from edge_agents.agent import Agent, AgentConfig
from edge_agents.driver import CallableDriver, declare
from edge_agents.link import Received
from edge_agents.store import REJECTED
from tests.edge_agents.fakes import FakeLink, ramp
from tests.support.clock import START_MS, FakeClock

METER = EquipmentType.ELECTRICITY_METER


def _agent(tmp_path: Path, link: FakeLink, clock: FakeClock, **options: object) -> Agent:
    config = AgentConfig.model_validate({
        "site": "s1", "line": "l1", "device": "m1", "device_type": METER, "batch_s": 5,
        "status_period_s": 60, "backoff": {"initial_s": 1, "max_s": 4, "jitter": 0}, **options})
    driver = CallableDriver([declare(METER, "power_kw", 1), declare(METER, "energy_kwh", 5)],
                            ramp)
    return Agent(config, driver, MqttSettings(), clock, tmp_path, link=link,
                 rng=random.Random(0))


def _run(agent: Agent, clock: FakeClock, seconds: int) -> None:
    for _ in range(seconds):
        agent.tick()
        clock.advance(1)


def _data(link: FakeLink) -> list[DataMessage]:
    return [DataMessage.model_validate_json(p) for p in link.topics("/data")]


def test_each_metric_is_sampled_at_its_own_rate_and_batched(tmp_path: Path) -> None:
    link, clock = FakeLink(), FakeClock()
    agent = _agent(tmp_path, link, clock)
    _run(agent, clock, 12)
    messages = _data(link)
    assert [m.seq for m in messages] == [0, 1]
    assert [len(m.samples) for m in messages] == [6, 6]  # a message every batch_s = 5 s
    samples = [s for m in messages for s in m.samples]
    assert [s.ts - samples[0].ts for s in samples] == [i * 1000 for i in range(12)]
    assert [sorted(s.values) for s in samples[:6]] == [
        ["energy_kwh", "power_kw"], *[["power_kw"]] * 4, ["energy_kwh", "power_kw"]]
    assert not any(m.historical for m in messages)
    for payload in link.topics("/data"):
        decode("loopmeter/v1/s1/l1/m1/data", payload, now_ms=clock.now)


def test_birth_retained_on_every_connect_with_a_matching_will(tmp_path: Path) -> None:
    link, clock = FakeLink(), FakeClock()
    agent = _agent(tmp_path, link, clock)
    _run(agent, clock, 7)
    link.cut()
    _run(agent, clock, 3)
    link.up = True
    _run(agent, clock, 10)
    births = [(BirthMessage.model_validate_json(p), retain) for t, p, retain in link.published
              if t.endswith("/birth")]
    wills = [DeathMessage.model_validate_json(w.payload) for w in link.wills]
    assert [b.session for b, _ in births] == [w.session for w in wills]
    assert len(births) == 2 and all(retain for _, retain in births)
    assert births[1][0].next_seq == 2  # one message formed online, one during the cut
    assert all(w.topic == "loopmeter/v1/s1/l1/m1/death" for w in link.wills)


def test_offline_messages_are_historical_and_replayed_at_the_set_rate(tmp_path: Path) -> None:
    link, clock = FakeLink(up=False), FakeClock()
    agent = _agent(tmp_path, link, clock, replay={"samples_per_s": 5})
    _run(agent, clock, 60)
    assert agent.store.depth == 60 and not link.published
    link.up = True
    while not link.topics("/birth"):
        _run(agent, clock, 1)
    _run(agent, clock, 12)
    data = _data(link)
    historical = [m for m in data if m.historical]
    live = [m for m in data if not m.historical]
    # 5 samples/s: ten 6-sample messages in 12 s, in order, while live data goes out at once.
    assert 9 <= len(historical) <= 11
    assert [m.seq for m in historical] == list(range(len(historical)))
    assert len(live) == 2 and live[0].seq > historical[-1].seq
    _run(agent, clock, 30)
    assert {m.seq for m in _data(link) if m.historical} == set(range(10))
    assert sorted(m.seq for m in _data(link)) == list(range(agent.stats.messages))


def test_reconnect_attempts_back_off(tmp_path: Path) -> None:
    link, clock = FakeLink(up=False), FakeClock()
    attempts: list[int] = []
    open_ = link.open

    def counting_open(will: object, subscribe: str | None = None) -> None:
        attempts.append(clock.now)
        open_(will, subscribe)  # type: ignore[arg-type]

    link.open = counting_open  # type: ignore[method-assign]
    agent = _agent(tmp_path, link, clock)
    _run(agent, clock, 20)
    gaps = [(b - a) // 1000 for a, b in pairwise(attempts)]
    assert gaps[:4] == [1, 2, 4, 4]


def test_the_connection_is_timed_on_the_network_clock(tmp_path: Path) -> None:
    """A simulated plant's clock may run 2880 times faster; the broker's does not."""
    link, plant_clock, network_clock = FakeLink(up=False), FakeClock(), FakeClock()
    config = AgentConfig(site="s1", line="l1", device="m1", device_type=METER,
                         backoff={"initial_s": 1, "jitter": 0})
    driver = CallableDriver([declare(METER, "power_kw", 1)], ramp)
    agent = Agent(config, driver, MqttSettings(), plant_clock, tmp_path, link=link,
                  network_clock=network_clock)
    _run(agent, plant_clock, 100)
    assert link.attempts == 1
    network_clock.advance(1)
    agent.tick()
    assert link.attempts == 2


class _SkewedMachine(CallableDriver):
    """A machine whose own clock runs 1.5 s ahead of the agent's."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__([declare(METER, "power_kw", 1)], ramp)
        self._clock = clock

    def device_time_ms(self) -> int:
        return self._clock.now + 1500


def test_status_reports_the_machine_clock_offset_when_the_driver_has_a_clock(
        tmp_path: Path) -> None:
    link, clock = FakeLink(), FakeClock()
    config = AgentConfig(site="s1", line="l1", device="m1", device_type=METER)
    agent = Agent(config, _SkewedMachine(clock), MqttSettings(), clock, tmp_path, link=link)
    _run(agent, clock, 2)
    status = StatusMessage.model_validate_json(link.topics("/status")[0])
    assert status.clock_offset_ms == 1500
    plain_link = FakeLink()
    _run(_agent(tmp_path / "plain", plain_link, clock), clock, 2)
    assert StatusMessage.model_validate_json(plain_link.topics("/status")[0]).clock_offset_ms \
        is None


def test_a_refused_message_is_dropped_and_reported(tmp_path: Path) -> None:
    link, clock = FakeLink(auto_ack=False), FakeClock()
    agent = _agent(tmp_path, link, clock, status_period_s=10)
    _run(agent, clock, 6)
    data_mid = next(i + 1 for i, (t, _, _) in enumerate(link.published) if t.endswith("/data"))
    link.ack(data_mid, accepted=False)
    _run(agent, clock, 10)
    assert agent.store.dropped == {REJECTED: 6}
    status = StatusMessage.model_validate_json(link.topics("/status")[-1])
    assert status.dropped == {REJECTED: 6}
    assert (status.queue_depth, status.oldest_queued_ts) == (6, START_MS + 6000)


def test_stop_says_goodbye(tmp_path: Path) -> None:
    link, clock = FakeLink(), FakeClock()
    agent = _agent(tmp_path, link, clock)
    _run(agent, clock, 2)
    agent.stop()
    (death,) = link.topics("/death")
    assert DeathMessage.model_validate_json(death).session == 1


# ---------------------------------------------------------------- end-to-end acknowledgement


def test_a_data_message_stays_queued_after_puback_until_ingest_confirms_it(
        tmp_path: Path) -> None:
    link, clock = FakeLink(grant=True), FakeClock()
    agent = _agent(tmp_path, link, clock)
    _run(agent, clock, 12)
    seqs = [m.seq for m in _data(link)]
    assert seqs == [0, 1] and link.subscriptions == ["loopmeter/v1/s1/l1/m1/ack/durable"]
    depth = agent.store.depth
    assert depth >= 10 and agent.stats.acked_messages == 0  # PUBACKed, but not yet durable
    link.confirm([0])
    _run(agent, clock, 1)
    first = DataMessage.model_validate_json(link.topics("/data")[0])
    assert agent.stats.acked_messages == 1
    assert agent.store.depth == depth - len(first.samples) + 1  # one sample taken meanwhile
    link.confirm([1])
    agent.flush()
    _run(agent, clock, 1)
    link.confirm([m.seq for m in _data(link)])
    _run(agent, clock, 1)
    assert agent.store.depth == agent.store.pending  # nothing formed is left in the queue
    assert agent.stats.resent == 0


def test_what_ingest_does_not_confirm_in_time_is_sent_again_unchanged(tmp_path: Path) -> None:
    link, clock = FakeLink(grant=True), FakeClock()
    agent = _agent(tmp_path, link, clock, confirm={"timeout_s": 30})
    _run(agent, clock, 6)
    (first,) = link.topics("/data")
    _run(agent, clock, 28)
    assert link.topics("/data").count(first) == 1
    _run(agent, clock, 4)  # 30 s after its PUBACK
    assert link.topics("/data").count(first) == 2 and agent.stats.resent == 1
    link.confirm([DataMessage.model_validate_json(first).seq])
    _run(agent, clock, 40)
    assert link.topics("/data").count(first) == 2  # confirmed: never again


def test_unconfirmed_messages_count_against_the_in_flight_window(tmp_path: Path) -> None:
    link, clock = FakeLink(grant=True, up=False), FakeClock()
    agent = _agent(tmp_path, link, clock, replay={"max_in_flight": 3, "samples_per_s": 1000},
                   confirm={"timeout_s": 1000})
    _run(agent, clock, 60)  # twelve messages formed offline
    link.up = True
    _run(agent, clock, 10)
    assert len(_data(link)) == 3  # PUBACKed, unconfirmed: the window is full
    link.confirm([m.seq for m in _data(link)])
    _run(agent, clock, 2)
    assert len(_data(link)) == 6


def test_a_refused_subscription_falls_back_to_deleting_on_puback(tmp_path: Path) -> None:
    link, clock = FakeLink(grant=False), FakeClock()
    agent = _agent(tmp_path, link, clock)
    _run(agent, clock, 13)
    assert link.subscriptions and agent.stats.acked_messages == 2


def test_without_confirmation_nothing_is_subscribed_and_puback_deletes(tmp_path: Path) -> None:
    link, clock = FakeLink(grant=True), FakeClock()
    agent = _agent(tmp_path, link, clock, confirm={"enabled": False})
    _run(agent, clock, 13)
    assert link.subscriptions == [] and agent.stats.acked_messages == 2


def test_a_malformed_acknowledgement_deletes_nothing(tmp_path: Path) -> None:
    link, clock = FakeLink(grant=True), FakeClock()
    agent = _agent(tmp_path, link, clock)
    _run(agent, clock, 6)
    link._events.append(Received(link.subscriptions[-1], b'{"v": 1, "seqs": [[0, 0]]}'))
    _run(agent, clock, 1)
    assert agent.stats.acked_messages == 0 and agent.store.depth > 0
