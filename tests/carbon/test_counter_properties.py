"""Counter rules as laws: any monotone true consumption plus any injected event.

For each case the register's total over the window is computed as the engine does (segments,
then the uncovered time filled at the register's mean rate) and compared with the truth.
Stated tolerance: exact where every segment's amount is known; otherwise the error is at
most what the device could have done at its maximum rate during the unknown time (the
substitution is bounded by physics), and the unknown time is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from carbon.counters import (
    CounterEvent,
    EventKind,
    Flag,
    Limits,
    Reading,
    apportion,
    mean_rate,
    segments,
    substitute,
)

MS_PER_H = 3_600_000
MAX_KW = Decimal(2000)
LIMITS = Limits(MAX_KW / MS_PER_H)
MAX_GAP_MS = 300_000
EXACT = Decimal("1e-12")


@dataclass(frozen=True)
class Truth:
    times: list[int]
    values: list[Decimal]

    @property
    def consumed(self) -> Decimal:
        return self.values[-1] - self.values[0]


@st.composite
def truths(draw: st.DrawFn) -> Truth:
    """Monotone consumption at or below the maximum rate, sampled every 10 s to 2 min."""
    count = draw(st.integers(6, 40))
    ts, value = 0, Decimal(draw(st.integers(20_000, 900_000)))
    times, values = [ts], [value]
    for _ in range(count - 1):
        dt = draw(st.integers(10, 120)) * 1000
        share = Decimal(draw(st.integers(0, 1000))) / 1000
        ts, value = ts + dt, value + (MAX_KW * dt / MS_PER_H * share).quantize(Decimal("0.001"))
        times.append(ts)
        values.append(value)
    return Truth(times, values)


def total(readings: list[Reading], events: list[CounterEvent],
          bounds: tuple[int, int]) -> tuple[Decimal, int, frozenset[Flag]]:
    """The amount over `bounds`, the unknown time filled at the mean rate, as the engine does;
    with the unknown time in ms and the flags."""
    ordered = sorted({r.ts: r for r in readings}.values(), key=lambda r: r.ts)
    segs = segments(ordered, events, MAX_GAP_MS, LIMITS)
    result = apportion(segs, bounds)
    unknown = result.uncovered_ms
    if result.uncovered:
        result = substitute(result, mean_rate(segs) * unknown, Flag.ESTIMATED)
    return result.amount, unknown, result.flags


def bound(unknown_ms: int) -> Decimal:
    return EXACT + MAX_KW * unknown_ms / MS_PER_H


def window(truth: Truth) -> tuple[int, int]:
    return truth.times[0], truth.times[-1]


def readings_of(truth: Truth) -> list[Reading]:
    return [Reading(t, v) for t, v in zip(truth.times, truth.values, strict=True)]


@given(truths())
def test_clean_register_is_exact(truth: Truth) -> None:
    amount, unknown, _ = total(readings_of(truth), [], window(truth))
    assert unknown == 0
    assert abs(amount - truth.consumed) <= EXACT


@given(truths(), st.integers(1, 5), st.booleans())
def test_rollover(truth: Truth, before_top: int, declared: bool) -> None:
    # The register starts a few kWh below a power of ten and rolls over during the window.
    top = Decimal(10) ** len(str(int(truth.values[0])))
    start = top - before_top
    shown = [Reading(t, (v - truth.values[0] + start) % top)
             for t, v in zip(truth.times, truth.values, strict=True)]
    rolled = next((i for i in range(1, len(shown)) if shown[i].value < shown[i - 1].value), None)
    events = ([CounterEvent(shown[rolled].ts - 1, EventKind.ROLLOVER, top)]
              if declared and rolled is not None else [])
    amount, unknown, flags = total(shown, events, window(truth))
    assert abs(amount - truth.consumed) <= bound(unknown)
    if rolled is not None and not declared:
        assert Flag.ROLLOVER_INFERRED in flags


@given(truths(), st.data(), st.sampled_from(["reset", "replaced", "undeclared"]),
       st.integers(0, 1000))
def test_reset_or_replacement(truth: Truth, data: st.DataObject, kind: str,
                              new_initial: int) -> None:
    # At reading k-1 + 1 ms the register restarts at `new_initial` (0 for a reset).
    k = data.draw(st.integers(1, len(truth.times) - 2))
    start = Decimal(0 if kind == "reset" else new_initial)
    at = truth.values[k - 1]
    shown = [Reading(t, v if i < k else v - at + start)
             for i, (t, v) in enumerate(zip(truth.times, truth.values, strict=True))]
    event_kind = EventKind.RESET if kind == "reset" else EventKind.REPLACED
    events = [] if kind == "undeclared" else [
        CounterEvent(truth.times[k - 1] + 1, event_kind, at, start)]
    amount, unknown, flags = total(shown, events, window(truth))
    assert abs(amount - truth.consumed) <= bound(unknown)
    if kind == "undeclared":
        # The new meter's start reading is never consumption: never over by more than the
        # physics allows, and the restart is flagged.
        assert Flag.RESET_UNDECLARED in flags


@given(truths(), st.data(), st.integers(1, 900))
def test_backwards_step_adds_nothing(truth: Truth, data: st.DataObject, drop: int) -> None:
    k = data.draw(st.integers(1, len(truth.times) - 2))
    shown = readings_of(truth)
    shown[k] = Reading(shown[k].ts, truth.values[k - 1] - drop)
    amount, unknown, flags = total(shown, [], window(truth))
    assert unknown == 0
    assert abs(amount - truth.consumed) <= EXACT
    assert Flag.BACKWARDS in flags


@given(truths(), st.data(), st.integers(-600_000, 600_000), st.booleans())
def test_clock_shift(truth: Truth, data: st.DataObject, shift: int, declared: bool) -> None:
    # From reading k on, the device clock is off by up to +-10 min: timestamps move, values
    # do not. The first and last readings keep their places in time.
    k = data.draw(st.integers(1, len(truth.times) - 1))
    shown = [Reading(t + (shift if k <= i < len(truth.times) - 1 else 0), v)
             for i, (t, v) in enumerate(zip(truth.times, truth.values, strict=True))]
    first, last = truth.times[0], truth.times[-1]
    shown = [r for r in shown if first < r.ts < last or r in (shown[0], shown[-1])]
    events = [CounterEvent(truth.times[k], EventKind.CLOCK_ADJUSTED)] if declared else []
    amount, unknown, _ = total(shown, events, window(truth))
    assert abs(amount - truth.consumed) <= bound(unknown)


@given(truths(), st.integers(-300_000, 300_000), st.booleans())
@settings(max_examples=60)
def test_duplicated_or_interleaved_source(truth: Truth, offset: int, same_ts: bool) -> None:
    # A second copy of the same meter's readings (a duplicate forwarder, a replayed backlog)
    # at the same or shifted timestamps, inside the window.
    copy = [Reading(t if same_ts else t + offset, v)
            for t, v in zip(truth.times, truth.values, strict=True)]
    first, last = truth.times[0], truth.times[-1]
    merged = readings_of(truth) + [r for r in copy if first < r.ts < last]
    amount, unknown, _ = total(merged, [], window(truth))
    assert unknown == 0
    assert abs(amount - truth.consumed) <= EXACT
