"""A register's increase over any window, as the gateway computes it: the engine's figure.

Two laws, over any readings (monotone consumption from anywhere on a 10^6 register, so it
may roll over, sampled 5 s to 20 min apart, so with gaps, plus steps back, undeclared
restarts, jumps and duplicates, and declared resets, replacements, rollovers and clock
adjustments), read as the gateway reads them (the quarter-hours a window
touches, and the last reading before and the first after them within the engine's horizon):

- for one quarter-hour, `window_increase` is the engine's own figure for the register
  (`slice_inputs` and `device_activities`, its pure functions), less what the engine
  substitutes for uncovered time (to the rounding of its estimate); exactly the same when
  the quarter is covered; an hour is the sum of the engine's four quarters;
- consecutive windows add up to their union (amount and uncovered time), and the
  buckets of a window add up to the window; to Decimal's rounding of proportional shares.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from carbon import (
    CounterEvent,
    EventKind,
    Flag,
    Reading,
    bucket_increases,
    register_increase,
    window_increase,
)
from carbon.activity import (
    Device,
    Params,
    Register,
    SiteInputs,
    device_activities,
    edge_readings,
    slice_inputs,
)
from carbon.buckets import QUARTER_MS
from contract import EquipmentType

CRUSHER = EquipmentType.CRUSHER_STATION  # power up to 2,000 kW
DEVICE = Device("l1", "crusher", CRUSHER)
MINUTE = 60_000
QUARTER = 15 * MINUTE
HOUR = 60 * MINUTE
ROUNDING = Decimal("1e-15")  # shares of a step are rounded to 28 digits; kWh here < 10^7
GAP_MS = Params().max_gap_ms


@st.composite
def registers(draw: st.DrawFn) -> list[Reading]:
    """A crusher's kWh register over up to 3 hours (often near its top: it rolls over),
    with up to three injected events."""
    ts = draw(st.integers(0, 10**6)) * 1000
    value = Decimal(draw(st.integers(0, 999_999) | st.integers(995_000, 999_999)))
    readings = []
    for _ in range(draw(st.integers(1, 60))):
        readings.append(Reading(ts, value % 1_000_000))
        dt = draw(st.sampled_from([5, 60, 120, 180, 400, 1200])) * 1000
        ts, value = ts + dt, value + Decimal(draw(st.integers(0, 2000 * dt // 3_600_000)))
    for event in draw(st.lists(st.sampled_from(["backwards", "restart", "jump", "duplicate"]),
                               max_size=3)):
        at = draw(st.integers(0, len(readings) - 1))
        before = readings[at - 1].value if at else readings[at].value
        if event == "backwards":  # a device clock set back: one low reading
            step = Decimal(draw(st.integers(1, 50)))
            readings[at] = Reading(readings[at].ts, max(before - step, Decimal(0)))
        elif event == "restart":  # a new meter from `at` on, starting at a few kWh
            offset = readings[at].value - Decimal(draw(st.integers(0, 20)))
            readings[at:] = [Reading(r.ts, max(r.value - offset, Decimal(0)))
                             for r in readings[at:]]
        elif event == "jump":  # one reading far too high
            readings[at] = Reading(readings[at].ts, readings[at].value + 50_000)
        else:  # a duplicate source sends an earlier reading again
            readings.append(Reading(readings[-1].ts + 1000, readings[at].value))
    return readings


@st.composite
def declared(draw: st.DrawFn) -> tuple[list[Reading], tuple[CounterEvent, ...]]:
    """`registers()`, and up to two events the device declared: a reset to zero or a meter
    replacement between two readings (the register restarts low from there), or a clock
    adjustment at a reading."""
    readings = draw(registers())
    events: list[CounterEvent] = []
    for kind in draw(st.lists(st.sampled_from(list(EventKind)), max_size=2)):
        at = draw(st.integers(1, len(readings) - 1)) if len(readings) > 1 else 0
        if at == 0 or readings[at].ts <= readings[at - 1].ts + 1:
            continue
        ts = draw(st.integers(readings[at - 1].ts + 1, readings[at].ts))
        if kind is EventKind.CLOCK_ADJUSTED:
            events.append(CounterEvent(readings[at].ts, kind))
            continue
        final = readings[at - 1].value + Decimal(draw(st.integers(0, 5)))
        restart = Decimal(draw(st.integers(0, 20)))
        offset = readings[at].value - restart
        readings[at:] = [Reading(r.ts, max(r.value - offset, Decimal(0))) for r in readings[at:]]
        if kind is EventKind.ROLLOVER:
            events.append(CounterEvent(ts, kind, Decimal(1_000_000)))
        else:
            known = draw(st.booleans())
            events.append(CounterEvent(ts, kind, final if known else None,
                                       restart if known else None))
    return readings, tuple(events)


def gateway_read(readings: list[Reading], bounds: tuple[int, int],
                 horizon_ms: int) -> tuple[Reading, ...]:
    """What the gateway reads for a window: its quarter-hours' readings and the two that
    bridge them within the horizon (as its InfluxQL does)."""
    ordered = sorted({r.ts: r for r in readings}.values(), key=lambda r: r.ts)
    start = bounds[0] - bounds[0] % QUARTER_MS
    end = -(-bounds[1] // QUARTER_MS) * QUARTER_MS
    return edge_readings(ordered, start, end, horizon_ms)


def gateway(readings: list[Reading], bounds: tuple[int, int], horizon_ms: int,
            events: tuple[CounterEvent, ...] = ()
            ) -> tuple[Decimal, int, tuple[tuple[int, int], ...], frozenset[Flag]]:
    result = window_increase(CRUSHER, "energy_kwh", gateway_read(readings, bounds, horizon_ms),
                             bounds, horizon_ms, GAP_MS, events=events)
    return result.amount, result.covered_ms, result.uncovered, result.flags


def engine(readings: list[Reading], bounds: tuple[int, int], horizon_ms: int,
           events: tuple[CounterEvent, ...] = ()) -> tuple[Decimal, Decimal, int]:
    """The engine's figure for the register over a quarter (from a read of a wider window,
    as it closes a day), what it substituted for uncovered time, and its covered time."""
    ordered = tuple(sorted({r.ts: r for r in readings}.values(), key=lambda r: r.ts))
    wide = SiteInputs("s", ordered[0].ts, ordered[-1].ts + 1,
                      (Register(DEVICE, "energy_kwh", "electricity_kwh", ordered, events),))
    sliced = slice_inputs(wide, *bounds, horizon_ms)
    measured = device_activities(sliced, bounds, Params()).get(DEVICE)
    if measured is None:
        return Decimal(0), Decimal(0), 0
    energy = measured.quantities["electricity_kwh"]
    filled = sum((v for k, v in energy.methods.items() if k != Flag.GAP_BRIDGED.value),
                 Decimal(0))
    return energy.amount, filled, energy.covered_ms


HORIZONS = st.sampled_from([10 * MINUTE, HOUR, 86_400_000])


@given(registers(), st.integers(-4, 16), HORIZONS)
def test_a_quarter_is_the_engines_figure(readings: list[Reading], offset: int,
                                         horizon_ms: int) -> None:
    first = min(r.ts for r in readings)
    start = first - first % QUARTER + offset * QUARTER
    bounds = (start, start + QUARTER)
    amount, covered, uncovered, _ = gateway(readings, bounds, horizon_ms)
    expected, filled, engine_covered = engine(readings, bounds, horizon_ms)
    assert abs(amount - (expected - filled)) <= ROUNDING  # the engine's estimate is rounded
    assert covered == engine_covered
    if not uncovered:
        assert filled == 0 and amount == expected


@given(declared(), st.integers(-4, 16), HORIZONS)
def test_a_quarter_with_declared_events_is_the_engines_figure(
        case: tuple[list[Reading], tuple[CounterEvent, ...]], offset: int,
        horizon_ms: int) -> None:
    readings, events = case
    first = min(r.ts for r in readings)
    start = first - first % QUARTER + offset * QUARTER
    bounds = (start, start + QUARTER)
    amount, covered, uncovered, _ = gateway(readings, bounds, horizon_ms, events)
    expected, filled, engine_covered = engine(readings, bounds, horizon_ms, events)
    assert abs(amount - (expected - filled)) <= ROUNDING
    assert covered == engine_covered
    if not uncovered:
        assert filled == 0 and amount == expected


@given(registers(), st.integers(-2, 4), HORIZONS)
def test_an_hour_is_the_sum_of_the_engines_quarters(readings: list[Reading], offset: int,
                                                    horizon_ms: int) -> None:
    first = min(r.ts for r in readings)
    start = first - first % HOUR + offset * HOUR
    amount, covered, _, _ = gateway(readings, (start, start + HOUR), horizon_ms)
    quarters = [engine(readings, (q, q + QUARTER), horizon_ms)
                for q in range(start, start + HOUR, QUARTER)]
    assert abs(amount - sum((e - f for e, f, _ in quarters), Decimal(0))) <= ROUNDING
    assert covered == sum(c for _, _, c in quarters)


@given(declared(), st.lists(st.integers(-3_600, 4 * 3_600), min_size=3, max_size=6,
                            unique=True), HORIZONS)
def test_consecutive_windows_add_up_to_their_union(
        case: tuple[list[Reading], tuple[CounterEvent, ...]], cuts_s: list[int],
        horizon_ms: int) -> None:
    """Windows cut anywhere (not on quarter-hours): the earlier first-reading rule broke
    this, since the step from the last reading of one window to the first of the next
    belonged to neither."""
    readings, events = case
    first = min(r.ts for r in readings)
    cuts = sorted(first + c * 1000 for c in cuts_s)
    parts = [gateway(readings, (a, b), horizon_ms, events) for a, b in pairwise(cuts)]
    whole = gateway(readings, (cuts[0], cuts[-1]), horizon_ms, events)
    assert abs(sum((p[0] for p in parts), Decimal(0)) - whole[0]) <= ROUNDING
    # A gap (readings further apart than the engine's max gap) counts as measured time
    # only in a window that holds both its readings: cut, its time is estimated on each side.
    assert sum(p[1] for p in parts) <= whole[1]
    assert sum(b - a for p in parts for a, b in p[2]) == sum(b - a for a, b in whole[2])
    assert all(p[0] >= 0 for p in parts)


@given(declared(), st.integers(-3_600, 3_600), st.integers(1, 4 * 3_600),
       st.sampled_from([MINUTE, 5 * MINUTE, QUARTER, HOUR, 6 * HOUR]), HORIZONS)
def test_the_buckets_of_a_window_add_up_to_it(
        case: tuple[list[Reading], tuple[CounterEvent, ...]], start_s: int, length_s: int,
        every: int, horizon_ms: int) -> None:
    readings, events = case
    first = min(r.ts for r in readings)
    bounds = (first + start_s * 1000, first + (start_s + length_s) * 1000)
    read = gateway_read(readings, bounds, horizon_ms)
    window = window_increase(CRUSHER, "energy_kwh", read, bounds, horizon_ms, events=events)
    buckets = bucket_increases(CRUSHER, "energy_kwh", read, every, bounds=bounds,
                               horizon_ms=horizon_ms, events=events)
    assert abs(sum((b.amount for b in buckets), Decimal(0)) - window.amount) <= ROUNDING
    assert [b.start for b in buckets] == sorted({b.start for b in buckets})
    assert all(b.amount >= 0 and b.start % every == 0 for b in buckets)
    assert all(bounds[0] - every < b.start < bounds[1] for b in buckets)


def test_a_step_across_a_bound_counts_in_proportion_to_its_time_on_each_side() -> None:
    # 100 kWh at 00:10, 130 at 00:20: a third of the step lies before 00:15.
    readings = [Reading(10 * MINUTE, Decimal(100)), Reading(20 * MINUTE, Decimal(130))]
    first = window_increase(CRUSHER, "energy_kwh", readings, (0, QUARTER))
    second = window_increase(CRUSHER, "energy_kwh", readings, (QUARTER, 2 * QUARTER))
    assert (first.amount, second.amount) == (15, 15)
    assert first.uncovered == ((0, 10 * MINUTE),)
    assert second.uncovered == ((20 * MINUTE, 2 * QUARTER),)
    assert Flag.UNCOVERED in first.flags
    # register_increase with bounds is the engine's arithmetic over the given readings.
    assert register_increase(CRUSHER, "energy_kwh", readings, bounds=(0, QUARTER)).amount == 15
    # Without bounds, from the first reading to the last.
    assert register_increase(CRUSHER, "energy_kwh", readings).amount == 30


def test_a_long_window_costs_its_readings_not_its_quarters() -> None:
    # An hour of readings in a window of 50 years (1.75 million quarter-hours): the quiet
    # quarters before and after are apportioned in runs, and the figure is the hour's.
    start = 20 * 365 * 86_400_000
    readings = [Reading(start + m * MINUTE, Decimal(5 * m)) for m in range(61)]
    whole = window_increase(CRUSHER, "energy_kwh", readings, (0, 50 * 365 * 86_400_000))
    hour = window_increase(CRUSHER, "energy_kwh", readings, (start, start + HOUR))
    assert whole.amount == hour.amount == 300
    assert whole.covered_ms == hour.covered_ms == HOUR
    buckets = bucket_increases(CRUSHER, "energy_kwh", readings, 86_400_000,
                               bounds=(0, 50 * 365 * 86_400_000))
    assert [(b.start, b.amount) for b in buckets] == [(start - start % 86_400_000, 300)]
