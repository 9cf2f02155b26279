"""The contract's clauses as pure checks over one device's recorded MQTT traffic.

Each check takes the decoded traffic and returns a verdict with the evidence; nothing here
does I/O, so every clause is unit-tested with crafted traffic. The watcher that records
real traffic lives in `edge_agents.conformance.watch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import TypeVar

from contract import (
    CATALOGUE,
    AckMessage,
    BirthMessage,
    ContractError,
    DataMessage,
    DeathMessage,
    DeviceId,
    EventMessage,
    Limits,
    Message,
    MessageKind,
    MetricKind,
    Reason,
    StatusMessage,
    decode,
    decode_ack,
)

# Decode without the codec's own future-timestamp bound: clock skew is a clause of its own.
_NO_SKEW_LIMIT = Limits(max_future_ms=10**15)
_RESTART_EVENTS = frozenset({"counter_reset", "meter_replaced", "counter_rollover"})
_MAX_EVIDENCE = 5
M = TypeVar("M", DataMessage, BirthMessage, DeathMessage, StatusMessage, EventMessage)


@dataclass(frozen=True, slots=True)
class Observation:
    """One message as the watcher received it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    received_ms: int


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_OBSERVED = "not_observed"


@dataclass(frozen=True, slots=True)
class ClauseResult:
    clause: str
    title: str
    verdict: Verdict
    detail: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """Tolerances of the checks; the defaults are the contract's."""

    max_skew_ms: int = 10_000
    rate_tolerance: float = 1.5
    expect_death: bool = False
    # A data message sent again this long after ingest confirmed it shows that the device
    # ignores acknowledgements (less may be a re-send that crossed the confirmation).
    ack_grace_ms: int = 5_000


@dataclass(frozen=True, slots=True)
class Decoded:
    observation: Observation
    kind: MessageKind | None
    message: Message | None
    error: ContractError | None


@dataclass
class Traffic:
    """One device's decoded observations, in order of receipt."""

    items: list[Decoded] = field(default_factory=list)
    acks: list[tuple[Observation, AckMessage]] = field(default_factory=list)  # from ingest

    def of(self, cls: type[M]) -> list[M]:
        return [i.message for i in self.items if isinstance(i.message, cls)]

    def data(self) -> list[DataMessage]:
        return self.of(DataMessage)

    def births(self) -> list[BirthMessage]:
        return self.of(BirthMessage)


def decode_traffic(device: DeviceId, observations: Iterable[Observation]) -> Traffic:
    """Decode what was published under the device's prefix; ignore other topics."""
    traffic = Traffic()
    for obs in observations:
        if not obs.topic.startswith(f"{device.prefix}/"):
            continue
        if obs.topic == device.ack_topic:
            with suppress(ContractError):  # ingest's message, not the device's to answer for
                traffic.acks.append((obs, decode_ack(obs.payload)))
            continue
        kind = _kind(obs.topic)
        try:
            message = decode(obs.topic, obs.payload, now_ms=obs.received_ms,
                             limits=_NO_SKEW_LIMIT).message
            traffic.items.append(Decoded(obs, kind, message, None))
        except ContractError as error:
            traffic.items.append(Decoded(obs, kind, None, error))
    return traffic


def _kind(topic: str) -> MessageKind | None:
    try:
        return MessageKind(topic.rsplit("/", 1)[-1])
    except ValueError:
        return None


def _result(clause: str, title: str, problems: Sequence[str], ok: str) -> ClauseResult:
    if problems:
        return ClauseResult(clause, title, Verdict.FAIL, f"{len(problems)} problem(s)",
                            tuple(problems[:_MAX_EVIDENCE]))
    return ClauseResult(clause, title, Verdict.PASS, ok)


def _not_observed(clause: str, title: str, detail: str) -> ClauseResult:
    return ClauseResult(clause, title, Verdict.NOT_OBSERVED, detail)


# ------------------------------------------------------------------ the clauses

def check_messages_valid(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "every message decodes and follows the schema"
    problems = [f"{i.observation.topic}: {i.error}" for i in traffic.items
                if i.message is None and not _is_units_or_range(i)]
    return _result("messages.valid", title, problems, f"{len(traffic.items)} messages valid")


def _is_units_or_range(item: Decoded) -> bool:
    return _units_error(item) or _range_error(item)


def _units_error(item: Decoded) -> bool:
    """A birth whose only problems are in its metric declarations."""
    return (item.kind is MessageKind.BIRTH and item.error is not None
            and bool(item.error.errors)
            and all(e.path.startswith("metrics[") for e in item.error.errors))


def _range_error(item: Decoded) -> bool:
    return (item.kind is MessageKind.DATA and item.error is not None
            and item.error.reason in (Reason.OUT_OF_RANGE, Reason.UNKNOWN_METRIC))


def check_birth(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "a valid birth message, retained, before the session's data"
    births = [i for i in traffic.items if i.kind is MessageKind.BIRTH]
    first_data = next((n for n, i in enumerate(traffic.items)
                       if i.kind is MessageKind.DATA), None)
    if not births:
        if first_data is None:
            return _not_observed("birth", title, "no birth and no data seen")
        return _result("birth", title, ["data arrived but no birth message was seen"], "")
    # A birth whose declarations are wrong is present; the units clause reports it.
    problems = [f"invalid birth: {b.error}" for b in births
                if b.error is not None and not _units_error(b)]
    problems += ["birth published without retain" for b in births if not b.observation.retain]
    if first_data is not None and traffic.items.index(births[0]) > first_data:
        problems.append("data arrived before the first birth")
    return _result("birth", title, problems, f"{len(births)} birth(s), retained, valid")


def check_units(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "declared metrics use the catalogue's unit and kind"
    problems = [str(i.error) for i in traffic.items if _units_error(i)]
    if not problems and not traffic.births():
        return _not_observed("units", title, "no birth message seen")
    return _result("units", title, problems, "all declarations match the catalogue")


def check_ranges(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "values are of the right type and inside the plausible (declared) range"
    problems = [str(i.error) for i in traffic.items if _range_error(i)]
    problems += list(_declared_range_problems(traffic))
    if not problems and not traffic.data():
        return _not_observed("ranges", title, "no data message seen")
    return _result("ranges", title, problems, "all values plausible")


def _declared_range_problems(traffic: Traffic) -> Iterator[str]:
    births = traffic.births()
    if not births:
        return
    declared = {m.name: m for m in births[-1].metrics}
    for message in traffic.data():
        for sample in message.samples:
            for name, value in sample.values.items():
                spec = declared.get(name)
                if spec is None:
                    yield f"seq {message.seq}: {name} is not declared in the birth message"
                elif isinstance(value, int | float) and not (
                        (spec.minimum is None or value >= spec.minimum)
                        and (spec.maximum is None or value <= spec.maximum)):
                    yield (f"seq {message.seq}: {name}={value:g} outside the declared range "
                           f"[{spec.minimum}, {spec.maximum}]")


def check_sequence(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "seq strictly increasing, never reused, without unexplained gaps"
    seen: dict[int, bytes] = {}
    problems: list[str] = []
    last_live = -1
    for item in traffic.items:
        message = item.message
        if isinstance(message, BirthMessage) and seen and message.next_seq <= max(seen):
            problems.append(f"birth of session {message.session} announces next_seq "
                            f"{message.next_seq}, but seq {max(seen)} was already sent")
        if not isinstance(message, DataMessage):
            continue
        problems += _seq_problems(message, item.observation.payload, seen, last_live)
        seen.setdefault(message.seq, item.observation.payload)
        if not message.historical:
            last_live = max(last_live, message.seq)
    if not seen:
        return _not_observed("seq", title, "no data message seen")
    if not _backlog_pending(traffic):
        problems += _gaps(seen)
    return _result("seq", title, problems, f"seq {min(seen)}..{max(seen)} complete")


def _backlog_pending(traffic: Traffic) -> bool:
    """The last status reports queued samples: gaps may still be filled by the replay."""
    statuses = traffic.of(StatusMessage)
    return bool(statuses) and statuses[-1].queue_depth > 0


def _seq_problems(message: DataMessage, payload: bytes, seen: dict[int, bytes],
                  last_live: int) -> list[str]:
    first = seen.get(message.seq)
    if first is not None:
        return [] if first == payload else [
            f"seq {message.seq} reused for a different message (not a redelivery)"]
    if not message.historical and message.seq < last_live:
        return [f"seq {message.seq} arrived after seq {last_live} without the historical flag"]
    return []


def _gaps(seen: dict[int, bytes]) -> list[str]:
    missing = sorted(set(range(min(seen), max(seen) + 1)) - set(seen))
    if not missing:
        return []
    return [f"{len(missing)} seq(s) never arrived, first {missing[0]}"]


def check_counters(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "counters never go backwards without a declared reset or replacement"
    counters = _counter_names(traffic)
    if not counters:
        return _not_observed("counters", title, "no counter metric in the data seen")
    restarts = _restarts(traffic)
    problems: list[str] = []
    for name in sorted(counters):
        series = sorted({(s.ts, float(v)) for m in traffic.data() for s in m.samples
                         for n, v in s.values.items() if n == name and not isinstance(v, str)})
        for (t0, v0), (t1, v1) in pairwise(series):
            if v1 < v0 and not any(t0 <= t <= t1 for t in restarts.get(name, ())):
                problems.append(f"{name} fell from {v0:g} at {t0} to {v1:g} at {t1} "
                                "with no counter_reset/meter_replaced/counter_rollover event")
    return _result("counters", title, problems, f"{len(counters)} counter(s) monotonic")


def _counter_names(traffic: Traffic) -> set[str]:
    names: set[str] = set()
    for message in traffic.data():
        spec = CATALOGUE[message.device_type]
        names |= {n for s in message.samples for n in s.values
                  if n in spec.by_name and spec.by_name[n].kind is MetricKind.COUNTER}
    for birth in traffic.births():
        names |= {m.name for m in birth.metrics if m.kind is MetricKind.COUNTER}
    return names


def _restarts(traffic: Traffic) -> dict[str, list[int]]:
    """Times of declared counter restarts per metric; an event without a metric covers all."""
    out: dict[str, list[int]] = {}
    for event in traffic.of(EventMessage):
        if event.event in _RESTART_EVENTS:
            for name in [event.metric] if event.metric else _counter_names(traffic):
                out.setdefault(name, []).append(event.ts)
    return out


def check_clock(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = f"timestamps sane, clock skew within {settings.max_skew_ms / 1000:g} s"
    problems = [p for item in traffic.items for p in _skew_problems(item, settings.max_skew_ms)]
    if not any(isinstance(i.message, BirthMessage | StatusMessage | DataMessage)
               for i in traffic.items):
        return _not_observed("clock", title, "no timestamped message seen")
    return _result("clock", title, problems, "timestamps within the skew bound")


def _skew_problems(item: Decoded, max_skew_ms: int) -> Iterator[str]:
    message, received = item.message, item.observation.received_ms
    if isinstance(message, BirthMessage | StatusMessage) and \
            abs(message.ts - received) > max_skew_ms:
        yield (f"{item.kind}: ts {message.ts} is "
               f"{(message.ts - received) / 1000:+.1f} s from receipt")
    if isinstance(message, StatusMessage) and message.clock_offset_ms is not None and \
            abs(message.clock_offset_ms) > max_skew_ms:
        yield f"status reports the machine's clock {message.clock_offset_ms / 1000:+.1f} s off"
    if isinstance(message, DataMessage):
        newest = max(s.ts for s in message.samples)
        if newest > received + max_skew_ms:
            yield (f"data seq {message.seq}: sample at {newest} is "
                   f"{(newest - received) / 1000:+.1f} s in the future")


def check_rates(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "declared sampling periods are met"
    births = traffic.births()
    if not births:
        return _not_observed("rates", title, "no birth message declaring the periods")
    times: dict[str, set[int]] = {}
    for message in traffic.data():
        for sample in message.samples:
            for name in sample.values:
                times.setdefault(name, set()).add(sample.ts)
    problems, measured = [], 0
    for metric in births[-1].metrics:
        ts = sorted(times.get(metric.name, ()))
        if len(ts) < 3:
            continue
        measured += 1
        mean_s = (ts[-1] - ts[0]) / (len(ts) - 1) / 1000
        if mean_s > metric.period_s * settings.rate_tolerance:
            problems.append(f"{metric.name}: declared every {metric.period_s:g} s, "
                            f"sampled every {mean_s:.3g} s on average")
    if not measured and not problems:
        return _not_observed("rates", title, "fewer than 3 samples per metric: watch longer")
    return _result("rates", title, problems, f"{measured} metric(s) at their declared rate")


def check_qos(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "QoS 1 for every message; only births retained"
    problems = [f"{i.observation.topic} delivered with QoS {i.observation.qos}"
                for i in traffic.items if i.observation.qos != 1]
    problems += [f"{i.observation.topic} published with retain"
                 for i in traffic.items if i.observation.retain
                 and i.kind not in (MessageKind.BIRTH, None)]
    if not traffic.items:
        return _not_observed("qos", title, "no message seen")
    return _result("qos", title, problems, f"{len(traffic.items)} messages at QoS 1")


def check_will(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "a last-will death message of the current session"
    deaths = traffic.of(DeathMessage)
    sessions = {b.session for b in traffic.births()}
    if not deaths:
        if settings.expect_death:
            return _result("will", title, ["the connection was cut but no death message "
                                           "arrived: no last will registered"], "")
        return _not_observed("will", title, "no disconnect during the watch; cut the device's "
                                            "network and use --expect-death to check it")
    problems = [f"death of session {d.session}, but the births announced {sorted(sessions)}"
                for d in deaths if sessions and d.session not in sessions]
    return _result("will", title, problems, f"{len(deaths)} death message(s) of known sessions")


def check_acknowledgement(traffic: Traffic, settings: CheckSettings) -> ClauseResult:
    title = "a data message confirmed durable by ingest is not sent again"
    if not traffic.acks:
        return _not_observed("acknowledgement", title, "no acknowledgement seen on the "
                             "device's ack/durable topic: watch while ingest runs")
    confirmed_at: dict[int, int] = {}
    for observation, ack in traffic.acks:
        for first, last in ack.seqs:
            for seq in range(first, last + 1):
                confirmed_at.setdefault(seq, observation.received_ms)
    problems = []
    for item in traffic.items:
        if not isinstance(item.message, DataMessage):
            continue
        confirmed = confirmed_at.get(item.message.seq)
        sent = item.observation.received_ms
        if confirmed is not None and sent > confirmed + settings.ack_grace_ms:
            problems.append(f"seq {item.message.seq} sent again {(sent - confirmed) / 1000:.1f}"
                            " s after ingest confirmed it: acknowledgements are ignored")
    return _result("acknowledgement", title, problems,
                   f"{len(confirmed_at)} data message(s) confirmed, none sent again after")


Check = Callable[[Traffic, CheckSettings], ClauseResult]
CHECKS: tuple[Check, ...] = (
    check_messages_valid, check_birth, check_will, check_sequence, check_counters,
    check_units, check_ranges, check_clock, check_rates, check_qos, check_acknowledgement,
)


def check_all(device: DeviceId, observations: Iterable[Observation],
              settings: CheckSettings = CheckSettings()) -> list[ClauseResult]:
    traffic = decode_traffic(device, observations)
    return [check(traffic, settings) for check in CHECKS]
