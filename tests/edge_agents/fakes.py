"""Test doubles: a link that records, a test machine (the fake clock is tests.support's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from adapters.mqtt import ConnectFailed, Will
from contract import ack_messages, encode_ack
from edge_agents.driver import Reading
from edge_agents.link import Acked, Connected, Disconnected, LinkEvent, Received, Subscribed
from tests.support.clock import START_MS


@dataclass
class FakeLink:
    """A broker in memory: `up` decides whether connects succeed; acks arrive on `poll`."""

    up: bool = True
    auto_ack: bool = True
    grant: bool = False  # whether a subscription (to acknowledgements) is granted
    published: list[tuple[str, bytes, bool]] = field(default_factory=list)
    wills: list[Will] = field(default_factory=list)
    _events: list[LinkEvent] = field(default_factory=list)
    attempts: int = 0
    _open: bool = False
    _mid: int = 0
    subscriptions: list[str] = field(default_factory=list)

    def open(self, will: Will, subscribe: str | None = None) -> None:
        self.attempts += 1
        if not self.up:
            raise ConnectFailed("refused")
        self.wills.append(will)
        self._open = True
        self._events.append(Connected(True, "Success"))
        if subscribe is not None:
            self.subscriptions.append(subscribe)
            self._events.append(Subscribed(self.grant))

    def confirm(self, seqs: Sequence[int], now_ms: int = START_MS) -> None:
        """Ingest confirms these seqs on the subscribed acknowledgement topic."""
        for message in ack_messages(seqs, now_ms):
            self._events.append(Received(self.subscriptions[-1], encode_ack(message)))

    def close(self) -> None:
        self._open = False

    def cut(self) -> None:
        """The network goes down under an open connection."""
        self.up = False
        if self._open:
            self._open = False
            self._events.append(Disconnected("cut"))

    def poll(self) -> list[LinkEvent]:
        events, self._events = self._events, []
        return events

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        if not self._open:
            return None
        self._mid += 1
        self.published.append((topic, payload, retain))
        if self.auto_ack:
            self._events.append(Acked(self._mid, True))
        return self._mid

    def ack(self, mid: int, accepted: bool = True, retry: bool = False) -> None:
        self._events.append(Acked(mid, accepted, retry))

    def topics(self, suffix: str) -> list[bytes]:
        return [payload for topic, payload, _ in self.published if topic.endswith(suffix)]


def ramp(names: Sequence[str], now_ms: int) -> Reading:
    """A test machine: power follows the clock, energy counts up with it."""
    values: Reading = {"power_kw": float(now_ms // 1000 % 500),
                       "energy_kwh": round(now_ms / 3_600_000, 3)}
    return {name: values[name] for name in names}
