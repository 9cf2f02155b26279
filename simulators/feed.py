"""Turns a running plant into contract messages, as a minimal edge agent per device would.

Used by `loopmeter sim run` when no edge-agent fleet is available, and by tests to check that
everything the simulators emit passes the contract. Pure: messages go to a `Publisher`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from contract import (
    AgentInfo,
    BirthMessage,
    DataMessage,
    MessageKind,
    MetricDeclaration,
    Sample,
    encode,
)
from simulators.device import SimDevice
from simulators.faults import LinkFaults
from simulators.plant import Plant

AGENT = AgentInfo(name="loopmeter-sim", version="0.1.0", firmware="sim")


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None: ...


@dataclass
class _Feed:
    device: SimDevice
    next_sample_ms: int
    samples: list[Sample] = field(default_factory=list)
    seq: int = 0


@dataclass
class FeedStats:
    samples: int = 0
    messages: int = 0
    events: int = 0


class PlantFeed:
    """Samples every device at its period and publishes a batch every `batch_s` of plant time.

    Data and events pass through `link` (the link faults); births are sent once, retained.
    """

    def __init__(
        self, plant: Plant, publisher: Publisher, link: LinkFaults, batch_s: float = 300.0
    ) -> None:
        self._plant = plant
        self._publisher = publisher
        self._link = link
        self._batch_ms = round(batch_s * 1000)
        self._feeds = [_Feed(d, plant.now_ms) for d in plant.devices]
        self._next_batch_ms = plant.now_ms + self._batch_ms
        self.stats = FeedStats()

    def births(self) -> None:
        for feed in self._feeds:
            self._publisher.publish(feed.device.id.topic(MessageKind.BIRTH),
                                    encode(birth(feed.device, feed.seq)), retain=True)

    def advance_to(self, t_ms: int) -> None:
        """Advance the plant, sampling as it goes, and send every batch that falls due."""
        self._plant.advance_to(t_ms, on_step=self._on_step)

    def finish(self) -> None:
        """Send what is still buffered, including messages held back for reordering."""
        self._send_all(self._plant.now_ms)
        for topic, payload in self._link.flush():
            self._publisher.publish(topic, payload)

    def _on_step(self, plant: Plant) -> None:
        now = plant.now_ms
        for feed in self._feeds:
            if now >= feed.next_sample_ms:
                self._sample(feed, now)
        if now >= self._next_batch_ms:
            self._send_all(now)
            self._next_batch_ms += self._batch_ms

    def _sample(self, feed: _Feed, now_ms: int) -> None:
        ts = feed.device.now_ms()
        if not feed.samples or ts > feed.samples[-1].ts:
            feed.samples.append(Sample(ts=ts, values=feed.device.read()))
            self.stats.samples += 1
        period_ms = round(min(feed.device.period_s.values()) * 1000)
        feed.next_sample_ms = now_ms + period_ms

    def _send_all(self, now_ms: int) -> None:
        for feed in self._feeds:
            for event in feed.device.drain_events():
                self._send(now_ms, feed.device.id.topic(MessageKind.EVENT), encode(event))
                self.stats.events += 1
            if feed.samples:
                message = DataMessage(device_type=feed.device.type, seq=feed.seq,
                                      samples=feed.samples)
                self._send(now_ms, feed.device.id.topic(MessageKind.DATA), encode(message))
                feed.seq += 1
                feed.samples = []
                self.stats.messages += 1

    def _send(self, now_ms: int, topic: str, payload: bytes) -> None:
        for out_topic, out_payload in self._link.apply(now_ms, topic, payload):
            self._publisher.publish(out_topic, out_payload)


def birth(device: SimDevice, next_seq: int, session: int = 0) -> BirthMessage:
    """The birth message of a simulated device: what it is and what it will send."""
    metrics = [MetricDeclaration.of(m, device.period_s[m.name]) for m in device.metrics]
    return BirthMessage(ts=device.now_ms(), session=session, device_type=device.type,
                        next_seq=next_seq, agent=AGENT, metrics=metrics, meta=device.meta)
