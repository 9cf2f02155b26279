"""A register's increase over a window and per time bucket by the engine's counter rules. Pure.

For views outside the engine that report a counter (the gateway's `spread`): the same rules
as `register_increase` (rollover only when physical, reading errors add nothing, a new
meter's start reading is never consumption).

Over a window (`window_increase`, and `bucket_increases` given `bounds`) the figure is the
engine's: the engine computes every period as the sum of its quarter-hours, each judged from
the readings inside it and the two that bridge its edges (the last before it and the first
after it, within its horizon), and each step between two accepted readings (a
`counters.Segment`) counts in proportion to its time inside the quarter (`apportion`). A
window here is cut the same way: each quarter-hour it touches is judged from the engine's
readings for that quarter, and the window (or bucket) takes the part of that quarter's steps
that lies inside it. So a window of whole quarter-hours is, register by register, the sum of
the engine's quarter figures before substitution; consecutive windows and the buckets of a
window add up to the whole (to Decimal's 28-digit rounding of proportional shares); uncovered
time (no reading yet, none since, a restart) is not substituted, the result's coverage and
flags say so.

Without `bounds`, `bucket_increases` keeps its older rule: each step counts whole in the
bucket that holds its later reading, so the buckets add up exactly to `register_increase`
over the same readings (from the first reading to the last).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby

from carbon.activity import edge_readings, register_limits
from carbon.counters import (
    ZERO,
    CounterEvent,
    Flag,
    IntervalResult,
    Limits,
    Reading,
    Segment,
    apportion,
    segments,
)
from carbon.lifecycle import LifeEvent
from contract.catalogue import EquipmentType

QUARTER_MS = 900_000
"""The engine's quarter-hours are local, but every zone offset in use is a whole number of
quarter hours (Asia/Shanghai +8:00, Asia/Kathmandu +5:45), so they are the epoch's."""
DEFAULT_HORIZON_MS = 86_400_000
"""The engine's default horizon (`CarbonSettings.horizon_s`)."""


@dataclass(frozen=True, slots=True)
class BucketIncrease:
    """The register's increase in the bucket starting at `start` (epoch ms)."""

    start: int
    amount: Decimal
    flags: frozenset[Flag]


def window_increase(equipment: EquipmentType | None, metric: str,
                    readings: Sequence[Reading], bounds: tuple[int, int],
                    horizon_ms: int = DEFAULT_HORIZON_MS, max_gap_ms: int = 300_000,
                    births: Sequence[LifeEvent] = (),
                    events: Sequence[CounterEvent] = ()) -> IntervalResult:
    """The register's increase over `bounds` = [start, end) as the engine computes it (see
    the module docstring). `readings` are those of the quarter-hours the window touches, with
    the last one before the first quarter and the first one after the last, within
    `horizon_ms` (the engine's read of those quarters); `births` bound rollovers as in
    `register_increase`; `events` are the register's declared events (resets, replacements,
    rollovers, clock adjustments: `carbon.counter_events`) within the horizon of them."""
    ordered = _ordered(readings)
    limits = register_limits(equipment, metric, births)
    return _join(bounds, list(_pieces(ordered, _by_time(events), bounds, None, horizon_ms,
                                      max_gap_ms, limits)))


def bucket_increases(equipment: EquipmentType | None, metric: str,
                     readings: Sequence[Reading], every_ms: int,
                     max_gap_ms: int = 300_000,
                     births: Sequence[LifeEvent] = (),
                     bounds: tuple[int, int] | None = None,
                     horizon_ms: int = DEFAULT_HORIZON_MS,
                     events: Sequence[CounterEvent] = ()) -> list[BucketIncrease]:
    """The increase per `every_ms` bucket (aligned on the epoch, as InfluxQL's
    `GROUP BY time()`), in time order; `births` bound rollovers as in `register_increase`,
    declared `events` are honoured as in `window_increase`.

    With `bounds`, the part of the window's figure (`window_increase`, same arguments) in each
    bucket, for every bucket that a step of the register reaches or that logs an event; the
    buckets add up to the window's figure. Without, one per bucket holding a reading, each
    step counted whole in the bucket of its later reading."""
    if every_ms <= 0:
        raise ValueError("every_ms must be positive")
    ordered = _ordered(readings)
    limits = register_limits(equipment, metric, births)
    if bounds is not None:
        return _apportioned(ordered, _by_time(events), bounds, every_ms, horizon_ms,
                            max_gap_ms, limits)
    amounts = {_bucket(r.ts, every_ms): ZERO for r in ordered}
    flags: dict[int, set[Flag]] = {start: set() for start in amounts}
    for seg in segments(ordered, events, max_gap_ms, limits):
        start = _bucket(seg.end, every_ms)
        amounts[start] += seg.amount if seg.known else ZERO
        flags[start].update(_flags(seg))
    return [BucketIncrease(start, amounts[start], frozenset(flags[start]))
            for start in sorted(amounts)]


def _apportioned(ordered: Sequence[Reading], events: Sequence[CounterEvent],
                 bounds: tuple[int, int], every_ms: int, horizon_ms: int, max_gap_ms: int,
                 limits: Limits) -> list[BucketIncrease]:
    found = []
    pieces = _pieces(ordered, events, bounds, every_ms, horizon_ms, max_gap_ms, limits)
    for start, parts in groupby(pieces, key=lambda piece: _bucket(piece.start, every_ms)):
        within = list(parts)
        joined = _join((within[0].start, within[-1].end), within)
        if joined.uncovered_ms < joined.end - joined.start or joined.events:
            found.append(BucketIncrease(start, joined.amount, joined.flags))
    return found


def _pieces(ordered: Sequence[Reading], events: Sequence[CounterEvent],
            bounds: tuple[int, int], every_ms: int | None, horizon_ms: int, max_gap_ms: int,
            limits: Limits) -> Iterator[IntervalResult]:
    """The window cut at quarter-hours (and at buckets' bounds): each piece apportioned from
    the segments of the engine's readings and events for its quarter (`slice_inputs`).

    A run of quarters that hold no reading and read the same edges and events is one piece
    (cut at buckets' bounds only): their segments are the same, only a gap's or an unknown
    step's can reach into them, and such a step lies inside none of them, so apportioning
    the run at once is apportioning each (the work follows the readings, not the window's
    length)."""
    start, end = bounds
    quarter = start - start % QUARTER_MS
    while quarter < end:
        inside = bisect_left(ordered, quarter, key=_reading_time)
        own = bisect_left(ordered, quarter + QUARTER_MS, lo=inside, key=_reading_time) > inside
        around = edge_readings(ordered, quarter, quarter + QUARTER_MS, horizon_ms)
        first = bisect_left(events, quarter - horizon_ms, key=_event_time)
        stop = bisect_left(events, quarter + QUARTER_MS + horizon_ms, lo=first,
                           key=_event_time)
        segs = segments(around, events[first:stop], max_gap_ms, limits)
        until = quarter + QUARTER_MS if own else _quiet_until(
            ordered, inside, events, (first, stop), quarter, horizon_ms)
        lo, hi = max(quarter, start), min(until, end)
        while lo < hi:
            cut = min(hi, _bucket(lo, every_ms) + every_ms) if every_ms else hi
            yield apportion(segs, (lo, cut))
            lo = cut
        quarter = until


def _quiet_until(ordered: Sequence[Reading], after: int, events: Sequence[CounterEvent],
                 read: tuple[int, int], quarter: int, horizon_ms: int) -> int:
    """The end of the run of quarters from `quarter` (which holds no reading; `after` is the
    index of the first reading after it) that read the same readings and events: until the
    next reading's quarter, the last reading before falling out of the horizon, the next
    reading or event coming into it, or the earliest event read leaving it."""
    ends = []
    if after < len(ordered):
        ends.append(_bucket(ordered[after].ts, QUARTER_MS))
        ends.append(_past(ordered[after].ts - QUARTER_MS - horizon_ms))
    if after > 0:
        ends.append(_past(ordered[after - 1].ts + horizon_ms))
    first, stop = read
    if stop < len(events):
        ends.append(_past(events[stop].ts - QUARTER_MS - horizon_ms))
    if first < stop:
        ends.append(_past(events[first].ts + horizon_ms))
    return min([e for e in ends if e > quarter], default=quarter + QUARTER_MS * 10**9)


def _past(ts: int) -> int:
    """The first quarter-hour that starts after `ts`."""
    return _bucket(ts, QUARTER_MS) + QUARTER_MS


def _join(bounds: tuple[int, int], parts: Sequence[IntervalResult]) -> IntervalResult:
    """Consecutive parts of one register's result as one over `bounds`, their union."""
    return IntervalResult(
        bounds[0], bounds[1], sum((p.amount for p in parts), ZERO),
        sum(p.covered_ms for p in parts), sum((p.substituted for p in parts), ZERO),
        _merged(span for p in parts for span in p.uncovered),
        frozenset(flag for p in parts for flag in p.flags),
        tuple(sorted({event for p in parts for event in p.events})),
        _merged(span for p in parts for span in p.lacking))


def _merged(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Spans in time order, those that touch or overlap as one."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _by_time(events: Sequence[CounterEvent]) -> list[CounterEvent]:
    return sorted(events, key=_event_time)


def _event_time(event: CounterEvent) -> int:
    return event.ts


def _reading_time(reading: Reading) -> int:
    return reading.ts


def _ordered(readings: Sequence[Reading]) -> list[Reading]:
    return sorted({r.ts: r for r in readings}.values(), key=lambda r: r.ts)


def _bucket(ts: int, every_ms: int) -> int:
    return ts - ts % every_ms


def _flags(seg: Segment) -> set[Flag]:
    found = {e.flag for e in seg.events}
    found.update([Flag.UNCOVERED] if not seg.known else [])
    found.update([Flag.GAP_BRIDGED] if seg.gap else [])
    return found
