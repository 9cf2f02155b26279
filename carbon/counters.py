"""Interval amounts from cumulative registers: deltas, rollover, resets, replacements and gaps.

Pure. A register's readings become *segments* (consecutive readings and the corrected amount
between them); an interval takes the part of each segment that falls inside it, spread
linearly in time. The rules, in the order the domain reference gives them:

1. A difference across a gap keeps the total exact; only its spread in time is estimated.
   A gap is a segment longer than `max_gap_ms`; the part of it that falls in an interval it
   does not lie wholly inside is reported as substituted.
2. Time with no segment at all (no reading yet after it, or none before it) is *uncovered*;
   the caller fills it from a redundant meter (`substitute`), otherwise
3. with an estimate: the register's mean rate over the data read around it (`mean_rate`).

A counter that goes down is explained by an event (declared reset, meter replacement,
rollover) or, without one, inferred: a rollover if the register was near a power of ten,
a reset if it restarted low, otherwise an anomaly that contributes nothing. Every case is a
logged `MeterEvent` and a flag on the interval.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)
_NEAR_TOP = Decimal("0.9")
_RESTART_BELOW = Decimal("0.5")


class EventKind(StrEnum):
    RESET = "counter_reset"
    REPLACED = "meter_replaced"
    ROLLOVER = "counter_rollover"


class Flag(StrEnum):
    ROLLOVER = "rollover"
    ROLLOVER_INFERRED = "rollover_inferred"
    RESET = "reset"
    RESET_UNDECLARED = "reset_undeclared"
    REPLACED = "meter_replaced"
    FINAL_UNKNOWN = "final_value_unknown"
    BACKWARDS = "counter_backwards"
    GAP_BRIDGED = "gap_bridged"
    UNCOVERED = "uncovered"
    REDUNDANT_METER = "redundant_meter"
    ESTIMATED = "estimated"
    POWER_MISMATCH = "power_mismatch"


@dataclass(frozen=True, slots=True)
class Reading:
    ts: int
    value: Decimal


@dataclass(frozen=True, slots=True)
class CounterEvent:
    """A declared event: for a rollover, `old_final` is the value the register rolls at."""

    ts: int
    kind: EventKind
    old_final: Decimal | None = None
    new_initial: Decimal | None = None


@dataclass(frozen=True, slots=True, order=True)
class MeterEvent:
    """What the engine saw or inferred between two readings, for the data-quality log."""

    ts: int
    flag: Flag
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    start: int
    end: int
    amount: Decimal
    gap: bool
    events: tuple[MeterEvent, ...] = ()

    def share(self, start: int, end: int) -> Decimal:
        """The part of the amount inside [start, end), spread linearly in time."""
        if self.end == self.start:
            return self.amount if start <= self.start < end else ZERO
        overlap = min(self.end, end) - max(self.start, start)
        return self.amount * overlap / (self.end - self.start) if overlap > 0 else ZERO

    def inside(self, start: int, end: int) -> bool:
        return start <= self.start and self.end <= end


@dataclass(frozen=True, slots=True)
class IntervalResult:
    """One register's amount over [start, end), with how much of it is known and how."""

    start: int
    end: int
    amount: Decimal
    covered_ms: int
    substituted: Decimal
    uncovered: tuple[tuple[int, int], ...]
    flags: frozenset[Flag] = field(default_factory=frozenset)
    events: tuple[MeterEvent, ...] = ()

    @property
    def coverage(self) -> Decimal:
        return Decimal(self.covered_ms) / Decimal(self.end - self.start)

    @property
    def uncovered_ms(self) -> int:
        return sum(b - a for a, b in self.uncovered)


def segments(readings: Sequence[Reading], events: Sequence[CounterEvent],
             max_gap_ms: int) -> list[Segment]:
    """Corrected amounts between consecutive readings (sorted by time)."""
    ordered = sorted(events, key=lambda e: e.ts)
    result = []
    for before, after in itertools.pairwise(readings):
        between = [e for e in ordered if before.ts < e.ts <= after.ts]
        amount, logged = _step(before, after, between)
        result.append(Segment(before.ts, after.ts, amount,
                              after.ts - before.ts > max_gap_ms, tuple(logged)))
    return result


def _step(before: Reading, after: Reading,
          events: Sequence[CounterEvent]) -> tuple[Decimal, list[MeterEvent]]:
    if events:
        return _declared(before, after, events)
    if after.value >= before.value:
        return after.value - before.value, []
    return _undeclared(before, after)


def _declared(before: Reading, after: Reading,
              events: Sequence[CounterEvent]) -> tuple[Decimal, list[MeterEvent]]:
    total, logged, value = ZERO, [], before.value
    for event in events:
        if event.kind is EventKind.ROLLOVER:
            top = event.old_final if event.old_final is not None else _power_of_ten_above(value)
            total += max(top - value, ZERO)
            logged.append(MeterEvent(event.ts, Flag.ROLLOVER, f"rolled at {top}"))
            value = ZERO
            continue
        flag = Flag.RESET if event.kind is EventKind.RESET else Flag.REPLACED
        final = event.old_final if event.old_final is not None else value
        total += max(final - value, ZERO)
        logged.append(MeterEvent(event.ts, flag, f"final {final}, restart "
                                 f"{event.new_initial if event.new_initial is not None else 0}"))
        if event.old_final is None:
            logged.append(MeterEvent(event.ts, Flag.FINAL_UNKNOWN, "counted after last reading"))
        value = event.new_initial if event.new_initial is not None else ZERO
    if after.value < value:
        return total, [*logged, MeterEvent(before.ts, Flag.BACKWARDS,
                                           f"{value} -> {after.value} at {after.ts}")]
    return total + after.value - value, logged


def _undeclared(before: Reading, after: Reading) -> tuple[Decimal, list[MeterEvent]]:
    """An unexplained drop, logged at the reading before it (the segment's start)."""
    value, top = before.value, _power_of_ten_above(before.value)
    seen = f"{value} -> {after.value} at {after.ts}"
    if value >= top * _NEAR_TOP:
        return top - value + after.value, [MeterEvent(before.ts, Flag.ROLLOVER_INFERRED,
                                                      f"{seen}, register size {top}")]
    if after.value < value * _RESTART_BELOW:
        return after.value, [MeterEvent(before.ts, Flag.RESET_UNDECLARED,
                                        f"{seen}; loss before the reset unknown")]
    return ZERO, [MeterEvent(before.ts, Flag.BACKWARDS, seen)]


def _power_of_ten_above(value: Decimal) -> Decimal:
    """The register size of a display showing `value`: 99,999.9 rolls over at 100,000."""
    top = Decimal(10)
    while top <= value:
        top *= 10
    return top


def interval_deltas(readings: Sequence[Reading], events: Sequence[CounterEvent],
                    bounds: tuple[int, int], max_gap_ms: int) -> IntervalResult:
    """The register's amount over `bounds` = [start, end) with coverage and flags."""
    return apportion(segments(readings, events, max_gap_ms), bounds)


def apportion(segs: Sequence[Segment], bounds: tuple[int, int]) -> IntervalResult:
    """The segments' amount inside `bounds`; see the module docstring for the rules."""
    start, end = bounds
    amount = substituted = ZERO
    covered, flags, logged = 0, set[Flag](), []
    for seg in segs:
        part = seg.share(start, end)
        if seg.gap and not seg.inside(start, end):
            substituted += part
            if _overlap(seg, start, end) > 0:
                flags.add(Flag.GAP_BRIDGED)
        else:
            covered += _overlap(seg, start, end)
        amount += part
        inside_events = [e for e in seg.events if start <= e.ts < end]
        logged.extend(inside_events)
        flags.update(e.flag for e in inside_events)
    holes = _uncovered(segs, start, end)
    flags.update([Flag.UNCOVERED] if holes else [])
    return IntervalResult(start, end, amount, covered, substituted, holes,
                          frozenset(flags), tuple(sorted(logged)))


def _overlap(seg: Segment, start: int, end: int) -> int:
    return max(0, min(seg.end, end) - max(seg.start, start))


def _uncovered(segs: Sequence[Segment], start: int, end: int) -> tuple[tuple[int, int], ...]:
    if not segs:
        return ((start, end),)
    first, last = segs[0].start, segs[-1].end
    holes = [(start, min(first, end))] if first > start else []
    holes += [(max(last, start), end)] if last < end else []
    return tuple((a, b) for a, b in holes if b > a)


def substitute(result: IntervalResult, amount: Decimal, how: Flag) -> IntervalResult:
    """Fill the uncovered time with `amount` obtained by `how` (redundant meter or estimate)."""
    return replace(result, amount=result.amount + amount,
                   substituted=result.substituted + amount, uncovered=(),
                   flags=(result.flags - {Flag.UNCOVERED}) | {how})


def mean_rate(segs: Iterable[Segment]) -> Decimal:
    """Amount per millisecond over the segments that are not gaps: the estimate's rate.

    The mean, not the peak: registers that count in lumps (a battery pack weighed at once)
    show short segments at many times the real rate, and the peak would invent tonnes.
    """
    known = [s for s in segs if not s.gap and s.end > s.start]
    duration = sum(s.end - s.start for s in known)
    return sum((s.amount for s in known), ZERO) / duration if duration else ZERO


def integrated_power_kwh(readings: Sequence[Reading], bounds: tuple[int, int]) -> Decimal:
    """Trapezoidal integral of kW readings over the overlap with `bounds`, in kWh."""
    start, end = bounds
    total = ZERO
    for a, b in itertools.pairwise(readings):
        lo, hi = max(a.ts, start), min(b.ts, end)
        if hi > lo and b.ts > a.ts:
            at_lo = _lerp(a, b, lo)
            at_hi = _lerp(a, b, hi)
            total += (at_lo + at_hi) / 2 * (hi - lo) / 3_600_000
    return total


def _lerp(a: Reading, b: Reading, ts: int) -> Decimal:
    return a.value + (b.value - a.value) * (ts - a.ts) / (b.ts - a.ts)


def power_mismatch(energy_kwh: Decimal, power_kwh: Decimal, tolerance: Decimal,
                   floor_kwh: Decimal) -> bool:
    """True when counter energy and integrated power differ by more than `tolerance`
    (a fraction of the larger), ignoring amounts below `floor_kwh`."""
    larger = max(energy_kwh, power_kwh)
    return larger >= floor_kwh and abs(energy_kwh - power_kwh) > tolerance * larger
