"""Interval amounts from cumulative registers: deltas, rollover, resets, replacements and gaps.

Pure. A register's readings become *segments* (consecutive accepted readings and the
corrected amount between them); an interval takes the part of each segment that falls inside
it, spread linearly in time. The rules, in the order the domain reference gives them
(energy-carbon.md, rules 2, 3 and 10):

1. A difference across a gap keeps the total exact; only its spread in time is estimated.
   A gap is a segment longer than `max_gap_ms`; the part of it that falls in an interval it
   does not lie wholly inside is reported as substituted.
2. Time with no segment at all (no reading yet after it, or none before it), or covered by a
   segment whose amount is unknown, is *uncovered*; the caller fills it from a redundant
   meter (`substitute`), otherwise
3. with an estimate: the register's mean rate over the data read around it (`mean_rate`).

Counters are physical. A register that goes down is explained by a declared event (reset,
meter replacement, rollover) or, without one:

- a *rollover* only when the drop fits the register's span (it showed the top digits of a
  power of ten and restarted low) and the energy this implies fits the device's plausible
  maximum rate over the interval (`Limits.rate_at`: the catalogue's, or the tighter one
  the device declared in its birth);
- a *restart* (undeclared reset or replacement) when it fell below half its value and the
  next reading confirms the new level; the new meter's start reading is never consumption:
  the amount across the restart is unknown (uncovered, so substituted and flagged);
- otherwise a *reading error* (clock jitter or adjustment, reordering, a duplicate source):
  the reading is skipped, adds nothing and is flagged; the register's reference stays at
  the last accepted reading, so a total over interleaved or time-shifted readings stays
  exact. An increase faster than the plausible maximum rate is a reading error as well,
  unless the next reading confirms the new level (then its amount is unknown).

Every case is a logged `MeterEvent` and a flag on the interval.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from carbon.lifecycle import UNKNOWN, DeviceState

ZERO = Decimal(0)
_NEAR_TOP = Decimal("0.9")
_RESTART_BELOW = Decimal("0.5")
# Readings may carry device clocks that are off by minutes (domain: clock shifts of up to
# 10 min); a rate check over a shorter interval would reject real rollovers.
_MIN_RATE_WINDOW_MS = 600_000
_RATE_SLACK = Decimal("1.5")


class EventKind(StrEnum):
    RESET = "counter_reset"
    REPLACED = "meter_replaced"
    ROLLOVER = "counter_rollover"
    CLOCK_ADJUSTED = "clock_adjusted"


class Flag(StrEnum):
    ROLLOVER = "rollover"
    ROLLOVER_INFERRED = "rollover_inferred"
    RESET = "reset"
    RESET_UNDECLARED = "reset_undeclared"
    REPLACED = "meter_replaced"
    FINAL_UNKNOWN = "final_value_unknown"
    BACKWARDS = "counter_backwards"
    JUMP = "counter_jump"
    CLOCK_ADJUSTED = "clock_adjusted"
    GAP_BRIDGED = "gap_bridged"
    UNCOVERED = "uncovered"
    REDUNDANT_METER = "redundant_meter"
    ESTIMATED = "estimated"
    STATE_OFF = "state_off"
    DEVICE_ABSENT = "device_absent"
    POWER_MISMATCH = "power_mismatch"


ANOMALIES = frozenset({Flag.ROLLOVER_INFERRED, Flag.RESET_UNDECLARED, Flag.BACKWARDS,
                       Flag.JUMP, Flag.CLOCK_ADJUSTED, Flag.FINAL_UNKNOWN,
                       Flag.POWER_MISMATCH})
"""Flags that are counter or plausibility anomalies (counted in a record's quality)."""


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


@dataclass(frozen=True, slots=True)
class Limits:
    """What is physically possible for one register: its plausible maximum rate."""

    max_rate_per_ms: Decimal | None = None
    declared: tuple[tuple[int, Decimal | None], ...] = ()
    """The rate in force from each of the device's births on, in time order (the tighter of
    its declaration and `max_rate_per_ms`); before the first, `max_rate_per_ms`."""

    def rate_at(self, ts: int) -> Decimal | None:
        """The maximum rate in force at `ts`: that of the latest birth at or before it."""
        at = bisect_right(self.declared, ts, key=_first)
        return self.declared[at - 1][1] if at else self.max_rate_per_ms

    def allows(self, amount: Decimal, start: int, end: int) -> bool:
        """Whether `amount` fits in [start, end) at the maximum rate in force at `start`
        (unknown rate: no)."""
        rate = self.rate_at(start)
        if rate is None:
            return False
        window = max(end - start, _MIN_RATE_WINDOW_MS)
        return amount <= rate * window * _RATE_SLACK

    def plausible_increase(self, amount: Decimal, start: int, end: int) -> bool:
        """An increase is implausible only when a known maximum rate rules it out."""
        return self.rate_at(start) is None or self.allows(amount, start, end)


def _first(entry: tuple[int, Decimal | None]) -> int:
    return entry[0]


NO_LIMITS = Limits()


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
    known: bool = True

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
    lacking: tuple[tuple[int, int], ...] = ()
    """Time not measured directly: uncovered, or inside a gap whose spread is estimated."""
    filled: tuple[tuple[Flag, Decimal], ...] = ()
    """Each substitution of uncovered time: its method and amount (zero for `state_off`)."""

    @property
    def coverage(self) -> Decimal:
        return Decimal(self.covered_ms) / Decimal(self.end - self.start)

    @property
    def uncovered_ms(self) -> int:
        return sum(b - a for a, b in self.uncovered)


def segments(readings: Sequence[Reading], events: Sequence[CounterEvent],
             max_gap_ms: int, limits: Limits = NO_LIMITS) -> list[Segment]:
    """Corrected amounts between consecutive accepted readings (sorted by time)."""
    ordered = sorted((e for e in events if e.kind is not EventKind.CLOCK_ADJUSTED),
                     key=lambda e: e.ts)
    adjusted = [e.ts for e in events if e.kind is EventKind.CLOCK_ADJUSTED]
    result: list[Segment] = []
    skipped: list[MeterEvent] = []
    if not readings:
        return result
    ref = readings[0]
    for index in range(1, len(readings)):
        after = readings[index]
        between = [e for e in ordered if ref.ts < e.ts <= after.ts]
        verdict = _judge(ref, after, between, readings[index + 1:index + 2], limits, adjusted)
        if verdict is None:
            continue
        amount, logged, known = verdict
        if amount is None:
            skipped.extend(logged)
            continue
        result.append(Segment(ref.ts, after.ts, amount, after.ts - ref.ts > max_gap_ms,
                              (*skipped, *logged), known))
        skipped, ref = [], after
    if skipped and result:
        last = result[-1]
        result[-1] = replace(last, events=(*last.events, *skipped))
    elif skipped:
        result.append(Segment(ref.ts, ref.ts, ZERO, False, tuple(skipped)))
    return result


_Verdict = tuple[Decimal | None, list[MeterEvent], bool]


def _judge(ref: Reading, after: Reading, events: Sequence[CounterEvent],
           following: Sequence[Reading], limits: Limits,
           adjusted: Sequence[int]) -> _Verdict | None:
    """The amount from `ref` to `after`, or None as amount when `after` is a reading error."""
    if events:
        amount, logged, known = _declared(ref, after, events)
        return amount, logged, known
    if after.value >= ref.value:
        rise = after.value - ref.value
        if limits.plausible_increase(rise, ref.ts, after.ts):
            return rise, [], True
        return _suspicious(ref, after, following, limits, Flag.JUMP)
    return _undeclared(ref, after, following, limits, adjusted)


def _declared(before: Reading, after: Reading,
              events: Sequence[CounterEvent]) -> tuple[Decimal, list[MeterEvent], bool]:
    total, logged, value = ZERO, [], before.value
    known = True
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
                                 f"{event.new_initial if event.new_initial is not None else '?'}"))
        if event.old_final is None:
            logged.append(MeterEvent(event.ts, Flag.FINAL_UNKNOWN, "counted after last reading"))
        if event.new_initial is not None:
            value = event.new_initial
        elif event.kind is EventKind.RESET:
            value = ZERO  # a reset register restarts at zero
        else:
            # A new meter's start reading is never consumption: what it counted between the
            # swap and its first reading is unknown.
            known, value = False, after.value
    if after.value < value:
        return total, [*logged, MeterEvent(before.ts, Flag.BACKWARDS,
                                           f"{value} -> {after.value} at {after.ts}")], known
    return total + after.value - value, logged, known


def _undeclared(ref: Reading, after: Reading, following: Sequence[Reading], limits: Limits,
                adjusted: Sequence[int]) -> _Verdict:
    """An unexplained drop: rollover if physically possible, restart if confirmed, else error."""
    seen = f"{ref.value} -> {after.value} at {after.ts}"
    top = _power_of_ten_above(ref.value)
    implied = top - ref.value + after.value
    if (ref.value >= top * _NEAR_TOP and after.value < top * (1 - _NEAR_TOP)
            and limits.allows(implied, ref.ts, after.ts)):
        return implied, [MeterEvent(ref.ts, Flag.ROLLOVER_INFERRED,
                                    f"{seen}, register size {top}")], True
    if after.value < ref.value * _RESTART_BELOW:
        return _suspicious(ref, after, following, limits, Flag.RESET_UNDECLARED)
    flag = Flag.CLOCK_ADJUSTED if _near(adjusted, after.ts) else Flag.BACKWARDS
    return None, [MeterEvent(after.ts, flag, f"{seen}: reading skipped")], True


def _suspicious(ref: Reading, after: Reading, following: Sequence[Reading], limits: Limits,
                flag: Flag) -> _Verdict:
    """A new level (restart or jump) stands only when the next reading confirms it; the amount
    across it is unknown either way. Unconfirmed, the reading is an error and is skipped."""
    seen = f"{ref.value} -> {after.value} at {after.ts}"
    confirmed = bool(following) and following[0].value >= after.value and (
        limits.plausible_increase(following[0].value - after.value, after.ts, following[0].ts))
    if flag is Flag.RESET_UNDECLARED:
        confirmed = confirmed and following[0].value < ref.value
    if not confirmed:
        return None, [MeterEvent(after.ts, Flag.BACKWARDS if flag is Flag.RESET_UNDECLARED
                                 else Flag.JUMP, f"{seen}: reading skipped")], True
    # Dated when the new level appeared: a quarter whose first reading it is logs it (the
    # reading before may be the previous quarter's, which could not confirm it).
    return ZERO, [MeterEvent(after.ts, flag, f"{seen}: amount across it unknown")], False


def _near(moments: Sequence[int], ts: int) -> bool:
    return any(abs(ts - m) <= _MIN_RATE_WINDOW_MS for m in moments)


def _power_of_ten_above(value: Decimal) -> Decimal:
    """The register size of a display showing `value`: 99,999.9 rolls over at 100,000."""
    top = Decimal(10)
    while top <= value:
        top *= 10
    return top


def interval_deltas(readings: Sequence[Reading], events: Sequence[CounterEvent],
                    bounds: tuple[int, int], max_gap_ms: int,
                    limits: Limits = NO_LIMITS) -> IntervalResult:
    """The register's amount over `bounds` = [start, end) with coverage and flags."""
    return apportion(segments(readings, events, max_gap_ms, limits), bounds)


def apportion(segs: Sequence[Segment], bounds: tuple[int, int]) -> IntervalResult:
    """The segments' amount inside `bounds`; see the module docstring for the rules."""
    start, end = bounds
    amount = substituted = ZERO
    covered, flags, logged = 0, set[Flag](), []
    gaps = []
    for seg in segs:
        overlap = _overlap(seg, start, end)
        if seg.gap and overlap > 0:  # the total is known, its spread within the gap is not
            gaps.append((max(seg.start, start), min(seg.end, end)))
        if seg.known:
            part = seg.share(start, end)
            if seg.gap and not seg.inside(start, end):
                substituted += part
                if overlap > 0:
                    flags.add(Flag.GAP_BRIDGED)
            else:
                covered += overlap
            amount += part
        inside_events = [e for e in seg.events if start <= e.ts < end]
        logged.extend(inside_events)
        flags.update(e.flag for e in inside_events)
    holes = _uncovered(segs, start, end)
    flags.update([Flag.UNCOVERED] if holes else [])
    return IntervalResult(start, end, amount, covered, substituted, holes,
                          frozenset(flags), tuple(sorted(logged)),
                          tuple(sorted([*holes, *gaps])))


def _overlap(seg: Segment, start: int, end: int) -> int:
    return max(0, min(seg.end, end) - max(seg.start, start))


def _uncovered(segs: Sequence[Segment], start: int, end: int) -> tuple[tuple[int, int], ...]:
    spans = [s for s in segs if s.end > s.start]
    if not spans:
        return ((start, end),)
    first, last = spans[0].start, spans[-1].end
    holes = [(start, min(first, end))] if first > start else []
    holes += [(max(s.start, start), min(s.end, end)) for s in spans if not s.known]
    holes += [(max(last, start), end)] if last < end else []
    return tuple((a, b) for a, b in holes if b > a)


def substitute(result: IntervalResult, amount: Decimal, how: Flag) -> IntervalResult:
    """Fill the uncovered time with `amount` obtained by `how` (redundant meter or estimate)."""
    return replace(result, amount=result.amount + amount,
                   substituted=result.substituted + amount, uncovered=(),
                   flags=(result.flags - {Flag.UNCOVERED}) | {how},
                   filled=(*result.filled, (how, amount)))


def estimate(result: IntervalResult, segs: Sequence[Segment], edge_ms: int,
             device: DeviceState = UNKNOWN) -> IntervalResult:
    """Fill uncovered time with what the register's own data and the device's own state
    support, and no more.

    Time when the device was not born yet or dead gets nothing (`device_absent`): it stays
    uncovered. Where the device last said it was off (before its first report: first said),
    zero (`state_off`). Otherwise, inside the span of its readings (an unknown amount across
    a restart or a jump): the mean rate. Before its first reading or after its last (the
    device was not reporting): the rate of its nearest `edge_ms` of data, for at most
    `edge_ms`; the rest stays uncovered, counted as nothing, and lowers the coverage.
    """
    spans = [s for s in segs if s.end > s.start]
    if not spans:
        return result
    first, last = spans[0].start, spans[-1].end
    amount, left, flags = ZERO, list[tuple[int, int]](), set[Flag]()
    for lo, hi in result.uncovered:
        for a, b, alive in device.presence(lo, hi):
            if not alive:
                left.append((a, b))
                flags.add(Flag.DEVICE_ABSENT)
                continue
            start, stop, near = _edge_window(a, b, spans, first, last, edge_ms)
            left += [(x, y) for x, y in ((a, start), (stop, b)) if y > x]
            if stop <= start:
                continue
            if device.off(a, b):
                flags.add(Flag.STATE_OFF)
            else:
                flags.add(Flag.ESTIMATED)
                amount += mean_rate(near) * (stop - start)
    filled = tuple((f, amount if f is Flag.ESTIMATED else ZERO)
                   for f in (Flag.ESTIMATED, Flag.STATE_OFF) if f in flags)
    flags |= {Flag.UNCOVERED} if left else set()
    return replace(result, amount=result.amount + amount,
                   substituted=result.substituted + amount, uncovered=tuple(sorted(left)),
                   flags=frozenset((result.flags - {Flag.UNCOVERED}) | flags),
                   filled=(*result.filled, *filled))


def _edge_window(lo: int, hi: int, spans: Sequence[Segment], first: int, last: int,
                 edge_ms: int) -> tuple[int, int, list[Segment]]:
    """The part of [lo, hi) an estimate may fill, and the segments whose rate it takes."""
    if first <= lo and hi <= last:
        return lo, hi, list(spans)
    if hi <= first:
        start = min(max(lo, first - edge_ms), hi)
        return start, hi, [s for s in spans if s.start < first + edge_ms]
    return lo, max(min(hi, last + edge_ms), lo), [s for s in spans if s.end > last - edge_ms]


def mean_rate(segs: Iterable[Segment]) -> Decimal:
    """Amount per millisecond over the segments that are not gaps: the estimate's rate.

    The mean, not the peak: registers that count in lumps (a battery pack weighed at once)
    show short segments at many times the real rate, and the peak would invent tonnes.
    """
    known = [s for s in segs if s.known and not s.gap and s.end > s.start]
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


def power_energy_kwh(readings: Sequence[Reading], bounds: tuple[int, int]) -> Decimal | None:
    """Energy over `bounds` at the mean power of the samples inside it, or None when they
    span less than half of it.

    The samples never reach both edges (a quarter sampled every 2 min spans 14 min at best):
    integrating them alone would read 7 % low and raise false alarms at a constant load.
    """
    start, end = bounds
    inside = [p for p in readings if start <= p.ts < end]
    if len(inside) < 2 or (inside[-1].ts - inside[0].ts) * 2 < end - start:
        return None
    span = (inside[0].ts, inside[-1].ts)
    return integrated_power_kwh(inside, span) * (end - start) / (span[1] - span[0])


def _lerp(a: Reading, b: Reading, ts: int) -> Decimal:
    return a.value + (b.value - a.value) * (ts - a.ts) / (b.ts - a.ts)


def power_mismatch(energy_kwh: Decimal, power_kwh: Decimal, tolerance: Decimal,
                   floor_kwh: Decimal) -> bool:
    """True when counter energy and integrated power differ by more than `tolerance`
    (a fraction of the larger), ignoring amounts below `floor_kwh`."""
    larger = max(energy_kwh, power_kwh)
    return larger >= floor_kwh and abs(energy_kwh - power_kwh) > tolerance * larger
