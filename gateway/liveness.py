"""Device liveness from what devices publish: online state, last seen, sequence gaps, backlog.

Pure: `LivenessTracker.observe` takes a topic, a payload and the time it arrived; the
gateway feeds it from a subscription to every device topic. What it knows starts when the
gateway starts, except for retained births, which are dated by their own timestamp.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

from contract import (
    BirthMessage,
    ContractError,
    DataMessage,
    DeathMessage,
    StatusMessage,
    decode,
)

log = logging.getLogger(__name__)

MAX_DEVICES = 100_000


@dataclass(frozen=True, slots=True)
class Liveness:
    """What the gateway has seen of one device since it started."""

    connected: bool = False
    last_seen_ms: int | None = None
    session: int | None = None
    last_seq: int | None = None
    seq_gaps: int = 0
    """Data messages skipped in live order (a seq jump), summed."""
    queue_depth: int | None = None
    backlog_age_s: float | None = None

    def online(self, now_ms: int, offline_after_ms: int) -> bool:
        """Connected (birth without a later death) and heard from recently."""
        return (self.connected and self.last_seen_ms is not None
                and now_ms - self.last_seen_ms <= offline_after_ms)


class LivenessTracker:
    """Thread-safe: observed on the MQTT thread, read by request handlers."""

    def __init__(self, max_devices: int = MAX_DEVICES) -> None:
        self._devices: dict[str, Liveness] = {}
        self._max_devices = max_devices
        self._lock = threading.Lock()
        self.rejected = 0
        """Messages that were not valid v1 messages, or from one device too many."""

    def get(self, topic_prefix: str) -> Liveness:
        with self._lock:
            return self._devices.get(topic_prefix, Liveness())

    def observe(self, topic: str, payload: bytes, received_ms: int,
                retained: bool = False) -> None:
        try:
            envelope = decode(topic, payload, now_ms=received_ms)
        except Exception as error:  # on the MQTT thread: no message may stop it
            if not isinstance(error, ContractError):
                log.exception("liveness cannot decode a message on %s", topic)
            with self._lock:
                self.rejected += 1
            return
        key = envelope.topic.device.prefix
        with self._lock:
            if key not in self._devices and len(self._devices) >= self._max_devices:
                self.rejected += 1
                return
            before = self._devices.get(key, Liveness())
            self._devices[key] = _advance(before, envelope.message, received_ms, retained)


def _advance(state: Liveness, message: object, received_ms: int, retained: bool) -> Liveness:
    if isinstance(message, BirthMessage):
        born = min(message.ts, received_ms) if retained else received_ms
        return replace(state, connected=True, session=message.session,
                       last_seen_ms=max(born, state.last_seen_ms or 0))
    if isinstance(message, DeathMessage):
        if state.session is not None and message.session < state.session:
            return state  # the will of a session that a newer birth already replaced
        return replace(state, connected=False, last_seen_ms=received_ms)
    seen = replace(state, last_seen_ms=received_ms, connected=not retained or state.connected)
    if isinstance(message, DataMessage):
        return _data(seen, message)
    if isinstance(message, StatusMessage):
        backlog = (None if message.oldest_queued_ts is None
                   else max(0.0, (message.ts - message.oldest_queued_ts) / 1000))
        return replace(seen, queue_depth=message.queue_depth, backlog_age_s=backlog,
                       session=message.session)
    return seen


def _data(state: Liveness, message: DataMessage) -> Liveness:
    if message.historical:
        return state  # replayed from the backlog: out of live order by design
    gap = 0 if state.last_seq is None else max(0, message.seq - state.last_seq - 1)
    last = message.seq if state.last_seq is None else max(state.last_seq, message.seq)
    return replace(state, last_seq=last, seq_gaps=state.seq_gaps + gap)
