"""The pure core of ingest: messages in, batches out, acknowledgements in received order.

    offer(message) ──fast path, or decode──► valid: its points join the batch
                         └──► invalid: a dead letter joins the batch
    seal() ── the batch ──► commit(batch): dead letters to their store, points to InfluxDB
                            (or the spool), then every message acknowledged, in order, and
                            each device told which of its data messages are now durable
    flush() = commit(seal())

A message is acknowledged only after everything it produced is durable, and only after every
message received before it: batches are committed one at a time, in the order they were
sealed, and a batch's deliveries are acknowledged in the order they arrived, which is also
the order MQTT requires for PUBACKs. `offer`/`seal`/`report` may run on one thread while
`commit` runs on another (decoding the next batch while the last one is written). A batch is
bounded by points, messages and age; the broker's receive maximum bounds what waits for it.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from adapters.clock import Clock
from contract import (
    BirthMessage,
    ContractError,
    DataMessage,
    DeviceId,
    Envelope,
    MessageKind,
    Point,
    Reason,
    decode,
    line_protocol,
    parse_topic,
)
from contract.codec import without_bad_values
from contract.fast import FastData, fast_data
from contract.points import DEAD_LETTERS, INGEST_HEALTH, to_points
from contract.topics import is_acknowledgement
from ingest_service.declarations import Declarations
from ingest_service.poison import POISON, InFlight, NoInFlight
from ingest_service.quality import SequenceTracker, quality_points
from ingest_service.settings import BatchSettings
from ingest_service.stats import Stats
from ingest_service.storage import DeadLetter
from ingest_service.store import DurableStore

log = logging.getLogger(__name__)

HEALTH = INGEST_HEALTH
INTERNAL_ERROR = "internal_error"  # dead-letter reason: decoding raised something unexpected


@dataclass(frozen=True, slots=True)
class Delivery:
    """What acknowledges one MQTT message: its packet id on one connection."""

    mid: int
    qos: int
    connection: int


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    received_ms: int
    received_at: float  # the clock's monotonic seconds
    delivery: Delivery
    redelivered: bool = False  # the broker sent it before (MQTT DUP flag)


class AckSink(Protocol):
    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge these messages, in this order."""


class ConfirmSink(Protocol):
    def confirm(self, durable: Mapping[DeviceId, Sequence[int]]) -> None:
        """Tell each device which of its data messages (by seq) are now durable."""


class DeadLetterSink(Protocol):
    def add(self, letters: Sequence[DeadLetter]) -> None: ...


@dataclass(slots=True)
class Batch:
    lines: list[str]
    sources: list[str]  # the topic each line came from, for dead-lettering a rejected point
    letters: list[DeadLetter]
    deliveries: list[Delivery]
    newest_ms: list[int]  # the newest sample of each live data message
    durable: defaultdict[DeviceId, list[int]]  # the data messages' seqs, by device
    first_at: float | None = None


def _empty() -> Batch:
    return Batch([], [], [], [], [], defaultdict(list))


def _data_seq(topic: str, payload: bytes) -> tuple[DeviceId, int] | None:
    """The device and seq of a rejected data message, if it names them: stored as a dead
    letter, it is durable too, and its device must hear so or it would send it for ever."""
    try:
        parsed = parse_topic(topic)
        seq = orjson.loads(payload).get("seq") if parsed.kind is MessageKind.DATA else None
    except (ContractError, orjson.JSONDecodeError, AttributeError):
        return None
    return (parsed.device, seq) if type(seq) is int and seq >= 0 else None


Decoded = tuple[Envelope, list[Point], ContractError | None]


def _decode(inbound: Inbound, declarations: Declarations) -> FastData | Decoded:
    """The fast path's lines for an ordinary data message, else the precise decoder's verdict:
    the message's points, and the error of the values left out if some were (the rest of a
    data message is stored when only some values have the wrong type, by the catalogue or by
    the device's declaration of its custom metrics)."""
    if not declarations.precise(inbound.topic):
        fast = fast_data(inbound.topic, inbound.payload, now_ms=inbound.received_ms)
        if fast is not None:
            return fast
    partial = None
    try:
        envelope = decode(inbound.topic, inbound.payload, now_ms=inbound.received_ms)
    except ContractError as error:
        salvaged = without_bad_values(inbound.topic, inbound.payload, error,
                                      now_ms=inbound.received_ms)
        if salvaged is None:
            raise
        envelope, partial = salvaged, error
    message = envelope.message
    if isinstance(message, BirthMessage):
        declarations.learn(envelope.topic.device, message)
    elif isinstance(message, DataMessage):
        fitting, misfits = declarations.misfits(inbound.topic, message)
        if misfits:
            errors = (partial.errors if partial else []) + misfits
            partial = ContractError(Reason.SCHEMA, errors)
            if fitting is None:
                raise partial
            envelope = Envelope(envelope.topic, fitting)
    return envelope, to_points(envelope.topic, envelope.message, inbound.received_ms), partial


class Pipeline:
    """Decodes, batches, stores and acknowledges."""

    def __init__(self, store: DurableStore, dead_letters: DeadLetterSink, acks: AckSink,
                 tracker: SequenceTracker, clock: Clock, limits: BatchSettings,
                 stats: Stats, in_flight: InFlight | None = None,
                 confirms: ConfirmSink | None = None) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._acks = acks
        self._confirms = confirms
        self._tracker = tracker
        self._clock = clock
        self._limits = limits
        self._stats = stats
        self._in_flight = in_flight or NoInFlight()
        self._declarations = Declarations()
        self._batch = _empty()
        self._received = 0
        self._acked = 0
        self._sealed_at: deque[float] = deque()
        self._reported_letters: dict[str, int] = {}
        self._last_report_ms = 0

    def offer(self, inbound: Inbound) -> None:
        """Take one message; whatever its content, it can only be stored or dead-lettered."""
        batch = self._batch
        if batch.first_at is None:
            batch.first_at = inbound.received_at
        batch.deliveries.append(inbound.delivery)
        self._received += 1
        if is_acknowledgement(inbound.topic):  # ingest's own, come back through `loopmeter/#`
            self._stats.own_acks += 1  # acknowledged with the batch, not counted as a message
            return
        self._stats.messages_in += 1
        if self._in_flight.begin(inbound.topic, inbound.payload, inbound.redelivered):
            log.error("a message on %s killed the worker before: dead-lettered", inbound.topic)
            self._dead_letter(inbound, POISON, "the worker died while processing this message; "
                                               "it is not processed again")
            return
        try:
            self._accept(inbound)
        except ContractError as error:
            self._dead_letter(inbound, error.reason.value, str(error))
        except Exception as error:  # a bug must not let one message stall the stream
            log.exception("cannot process a message on %s", inbound.topic)
            self._dead_letter(inbound, INTERNAL_ERROR, f"{type(error).__name__}: {error}")
        self._in_flight.end()

    def _accept(self, inbound: Inbound) -> None:
        """Decode, track and batch one message; the batch changes only once nothing can fail."""
        decoded = _decode(inbound, self._declarations)
        partial = None
        if isinstance(decoded, FastData):
            device, seq, historical = decoded.device, decoded.seq, decoded.historical
            timestamps, lines = decoded.timestamps, decoded.lines
        else:
            envelope, points, partial = decoded
            lines = [line_protocol(p) for p in points]
            message = envelope.message
            if not isinstance(message, DataMessage):
                self._add_lines(lines, inbound.topic)
                return
            device, seq, historical = envelope.topic.device, message.seq, message.historical
            timestamps = [s.ts for s in message.samples]
        newest = max(timestamps)
        self._tracker.observe(device, seq, timestamps, inbound.received_ms)
        self._batch.durable[device].append(seq)
        if not historical:
            self._batch.newest_ms.append(newest)
        self._add_lines(lines, inbound.topic)
        if partial is not None:
            self._dead_letter(inbound, partial.reason.value,
                              f"{partial} (the message's other values are stored)")

    def _dead_letter(self, inbound: Inbound, reason: str, detail: str) -> None:
        self._batch.letters.append(DeadLetter(inbound.received_ms, inbound.topic, "message",
                                              reason, detail, inbound.payload))
        if self._confirms is not None and (named := _data_seq(inbound.topic, inbound.payload)):
            self._batch.durable[named[0]].append(named[1])

    def add_points(self, points: Sequence[Point], source: str = "") -> None:
        """Add points to the batch; without a message, they need no acknowledgement."""
        self._add_lines([line_protocol(p) for p in points], source)

    def _add_lines(self, lines: list[str], source: str) -> None:
        self._batch.lines.extend(lines)
        self._batch.sources.extend([source] * len(lines))

    def due(self) -> bool:
        return self.seconds_until_due() == 0.0

    def full(self) -> bool:
        """The batch has reached a size bound; what is waiting should not join it."""
        batch = self._batch
        return (len(batch.lines) >= self._limits.max_points
                or len(batch.deliveries) >= self._limits.max_messages)

    def seconds_until_due(self) -> float | None:
        """0 when the batch must be written now, None when it is empty."""
        batch = self._batch
        if not batch.lines and not batch.deliveries:
            return None
        if self.full() or batch.first_at is None:
            return 0.0
        return max(0.0, batch.first_at + self._limits.max_delay_s - self._clock.monotonic())

    def seal(self) -> Batch:
        """Close the batch and start a new one; commit the result next."""
        batch, self._batch = self._batch, _empty()
        if batch.deliveries and batch.first_at is not None:
            self._sealed_at.append(batch.first_at)
        return batch

    def commit(self, batch: Batch) -> None:
        """Store the batch durably, then acknowledge its messages in received order."""
        self._dead_letters.add(batch.letters)
        self._stats.dead_letters.update(letter.reason for letter in batch.letters)
        self._store.store(batch.lines, batch.sources)
        self._acks.ack(batch.deliveries)
        if self._confirms is not None and batch.durable:
            self._confirms.confirm(batch.durable)
        self._acked += len(batch.deliveries)
        if batch.deliveries and batch.first_at is not None:
            self._sealed_at.popleft()
            self._stats.batch_latency.observe(self._clock.monotonic() - batch.first_at)
        now_ms = self._clock.now_ms()
        for newest in batch.newest_ms:
            self._stats.delayed((now_ms - newest) / 1000)

    def flush(self) -> None:
        self.commit(self.seal())

    def unacked(self) -> tuple[int, float]:
        """Messages received but not acknowledged, and the age in seconds of the oldest."""
        try:
            oldest: float | None = self._sealed_at[0]
        except IndexError:  # nothing sealed is waiting (another thread may just have taken it)
            oldest = self._batch.first_at
        age = self._clock.monotonic() - oldest if oldest is not None else 0.0
        return self._received - self._acked, age

    def report(self, worker: int) -> None:
        """Add this interval's quality counts and the worker's health to the batch."""
        # Whole seconds plus the worker index, and a second after the last report at least:
        # no report overwrites another one, of this worker or of any other.
        time_ms = max(self._clock.now_ms() // 1000 * 1000 + worker, self._last_report_ms + 1000)
        self._last_report_ms = time_ms
        self.add_points(quality_points(self._tracker.take(), time_ms))
        self.add_points(self._health_points(worker, time_ms))

    def _health_points(self, worker: int, time_ms: int) -> list[Point]:
        stats = self._stats
        health = Point(HEALTH, (("worker", str(worker)),), {
            "spool_depth": stats.spool_points, "dead_letters_total":
            sum(stats.dead_letters.values()), "messages_in": stats.messages_in,
            "points_written": stats.points_written}, time_ms)
        letters = []
        for reason, total in stats.dead_letters.items():
            fresh = total - self._reported_letters.get(reason, 0)
            if fresh:
                letters.append(Point(DEAD_LETTERS, (("reason", reason), ("worker", str(worker))),
                                     {"count": fresh}, time_ms))
        self._reported_letters = dict(stats.dead_letters)
        return [health, *letters]
