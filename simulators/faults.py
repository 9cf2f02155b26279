"""Fault injection: what goes wrong, when, and a log of everything that was injected.

Device faults (clock skew and drift, counter reset, meter replacement, stuck and spiking
sensors, equipment breakdowns) are applied by the plant to its devices. Link faults (network
drop windows, duplicated and reordered messages, malformed payload bursts) are applied by
`LinkFaults` to the stream of outgoing (topic, payload) messages. Both are pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from contract import parse_topic


class FaultKind(StrEnum):
    NETWORK_DROP = "network_drop"
    DUPLICATE = "duplicate"
    REORDER = "reorder"
    MALFORMED_BURST = "malformed_burst"
    CLOCK_SKEW = "clock_skew"
    CLOCK_DRIFT = "clock_drift"
    COUNTER_RESET = "counter_reset"
    METER_REPLACED = "meter_replaced"
    STUCK = "stuck"
    SPIKE = "spike"
    EQUIPMENT_FAULT = "equipment_fault"
    # Not scheduled: logged when a register passes its maximum.
    COUNTER_ROLLOVER = "counter_rollover"


LINK_KINDS = frozenset({FaultKind.NETWORK_DROP, FaultKind.DUPLICATE, FaultKind.REORDER,
                        FaultKind.MALFORMED_BURST})
WINDOW_KINDS = frozenset({FaultKind.NETWORK_DROP, FaultKind.DUPLICATE, FaultKind.REORDER,
                          FaultKind.STUCK, FaultKind.SPIKE, FaultKind.EQUIPMENT_FAULT})
METRIC_KINDS = frozenset({FaultKind.COUNTER_RESET, FaultKind.METER_REPLACED, FaultKind.STUCK,
                          FaultKind.SPIKE})


@dataclass(frozen=True, slots=True)
class Fault:
    """One scheduled fault. `device` is "line/device" (None: every device, link faults only).

    Parameters by kind: clock_skew `offset_ms`; clock_drift `ppm`; meter_replaced `initial`;
    spike `factor`; malformed_burst `count`.
    """

    kind: FaultKind
    at_ms: int
    until_ms: int | None = None
    device: str | None = None
    metric: str | None = None
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.kind is FaultKind.COUNTER_ROLLOVER:
            raise ValueError("rollovers happen when a register passes rollover_at; "
                             "set the register's initial value close to it")
        if (self.kind in WINDOW_KINDS) != (self.until_ms is not None):
            raise ValueError(f"{self.kind}: a window needs until_ms, an instant must not have it")
        if self.until_ms is not None and self.until_ms <= self.at_ms:
            raise ValueError(f"{self.kind}: until_ms must be after at_ms")
        if (self.kind in METRIC_KINDS) != (self.metric is not None):
            raise ValueError(f"{self.kind}: metric is required for {sorted(METRIC_KINDS)} only")
        if self.device is None and self.kind not in LINK_KINDS:
            raise ValueError(f"{self.kind} needs a device")

    def param(self, name: str, default: float) -> float:
        return dict(self.params).get(name, default)

    def active(self, now_ms: int) -> bool:
        end = self.until_ms if self.until_ms is not None else self.at_ms + 1
        return self.at_ms <= now_ms < end

    def targets(self, device: str) -> bool:
        return self.device is None or self.device == device


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    faults: tuple[Fault, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", tuple(sorted(self.faults, key=lambda f: f.at_ms)))

    def link(self) -> tuple[Fault, ...]:
        return tuple(f for f in self.faults if f.kind in LINK_KINDS)

    def device(self) -> tuple[Fault, ...]:
        return tuple(f for f in self.faults if f.kind not in LINK_KINDS)

    def __add__(self, other: FaultSchedule) -> FaultSchedule:
        return FaultSchedule(self.faults + other.faults)


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """One injected fault as it happened: to which device ("line/device"), when, what."""

    t_ms: int
    kind: FaultKind
    device: str
    detail: str = ""


@dataclass(slots=True)
class FaultLog:
    records: list[FaultRecord] = field(default_factory=list)
    _drained: int = 0

    def add(self, t_ms: int, kind: FaultKind, device: str, detail: str = "") -> None:
        self.records.append(FaultRecord(t_ms, kind, device, detail))

    def drain(self) -> list[FaultRecord]:
        """Records not drained before (for a writer that appends as the run goes)."""
        new = self.records[self._drained:]
        self._drained = len(self.records)
        return new

    def count(self, kind: FaultKind) -> int:
        return sum(1 for record in self.records if record.kind is kind)


Message = tuple[str, bytes]
GARBAGE: tuple[bytes, ...] = (
    b"{not json",
    b"\xff\xfe\x00\x01",
    b'{"v": 9, "device_type": "crusher_station"}',
    b"",
    b'{"v": 1, "seq": -1, "samples": []}',
)


class LinkFaults:
    """Applies the link faults of a schedule to outgoing messages, logging each one."""

    def __init__(self, faults: Iterable[Fault], log: FaultLog) -> None:
        self._faults = tuple(f for f in faults if f.kind in LINK_KINDS)
        self._log = log
        self._held: dict[str, list[Message]] = {}
        self._bursts_done: set[Fault] = set()

    def add(self, fault: Fault) -> None:
        """Trigger a further link fault during a run (from a test)."""
        if fault.kind not in LINK_KINDS:
            raise ValueError(f"{fault.kind} is a device fault: use Plant.inject")
        self._faults = (*self._faults, fault)

    def apply(self, now_ms: int, topic: str, payload: bytes) -> list[Message]:
        """What reaches the broker for one message sent at `now_ms`."""
        device = _device_key(topic)
        out = self._bursts(now_ms, topic, device)
        if self._find(FaultKind.NETWORK_DROP, now_ms, device):
            self._log.add(now_ms, FaultKind.NETWORK_DROP, device, topic)
            return out + self._release(device)
        message = (topic, payload)
        sent = [message]
        if self._find(FaultKind.DUPLICATE, now_ms, device):
            self._log.add(now_ms, FaultKind.DUPLICATE, device, topic)
            sent.append(message)
        if device not in self._held and self._find(FaultKind.REORDER, now_ms, device):
            self._log.add(now_ms, FaultKind.REORDER, device, topic)
            self._held[device] = sent
            return out
        return out + sent + self._release(device)

    def flush(self) -> list[Message]:
        """Messages still held back for reordering, at the end of a run."""
        held = [message for messages in self._held.values() for message in messages]
        self._held.clear()
        return held

    def _release(self, device: str) -> list[Message]:
        return self._held.pop(device, [])

    def _find(self, kind: FaultKind, now_ms: int, device: str) -> bool:
        return any(f.kind is kind and f.active(now_ms) and f.targets(device)
                   for f in self._faults)

    def _bursts(self, now_ms: int, topic: str, device: str) -> list[Message]:
        out: list[Message] = []
        for fault in self._faults:
            due = fault.kind is FaultKind.MALFORMED_BURST and fault.at_ms <= now_ms
            if due and fault not in self._bursts_done and fault.targets(device):
                self._bursts_done.add(fault)
                count = int(fault.param("count", len(GARBAGE)))
                self._log.add(now_ms, FaultKind.MALFORMED_BURST, device, f"{count} payloads")
                out += [(topic, GARBAGE[i % len(GARBAGE)]) for i in range(count)]
        return out


def _device_key(topic: str) -> str:
    device = parse_topic(topic).device
    return f"{device.line}/{device.device}"
