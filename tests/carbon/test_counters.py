"""Counter maths: each case written out with the readings and the expected amount and flags."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from carbon.counters import (
    CounterEvent,
    EventKind,
    Flag,
    Limits,
    Reading,
    apportion,
    integrated_power_kwh,
    interval_deltas,
    mean_rate,
    power_energy_kwh,
    power_mismatch,
    segments,
    substitute,
)

D = Decimal
MIN = 60_000
GAP = 5 * MIN


def r(ts_min: float, value: str) -> Reading:
    return Reading(int(ts_min * MIN), Decimal(value))


def test_plain_difference_and_linear_edges() -> None:
    # Readings at 0, 10 and 20 min: 100 -> 110 -> 130. Interval [5, 15) min takes half of
    # each segment: 5 + 10 = 15; every minute of it is covered.
    readings = [r(0, "100"), r(10, "110"), r(20, "130")]
    result = interval_deltas(readings, [], (5 * MIN, 15 * MIN), 15 * MIN)
    assert result.amount == Decimal(15)
    assert result.coverage == 1
    assert result.substituted == 0
    assert result.flags == frozenset()


def test_declared_rollover_uses_the_stated_register_size() -> None:
    # 99,990 -> rolls at 100,000 -> 5: 10 before the rollover and 5 after = 15.
    event = CounterEvent(int(0.5 * MIN), EventKind.ROLLOVER, Decimal(100_000))
    result = interval_deltas([r(0, "99990"), r(1, "5")], [event], (0, MIN), GAP)
    assert result.amount == Decimal(15)
    assert Flag.ROLLOVER in result.flags
    assert [e.flag for e in result.events] == [Flag.ROLLOVER]


# 2,000 kW, the catalogue maximum of a crusher's power gauge, in kWh per ms.
CRUSHER = Limits(Decimal(2000) / 3_600_000)


def test_undeclared_rollover_near_a_power_of_ten_is_inferred() -> None:
    # 99,995 -> 3 without an event: the register showed 99,995 >= 0.9 x 100,000, and 8 kWh
    # in a minute fits 2,000 kW, so it rolled: (100,000 - 99,995) + 3 = 8.
    result = interval_deltas([r(0, "99995"), r(1, "3")], [], (0, 2 * MIN), GAP, CRUSHER)
    assert result.amount == Decimal(8)
    assert Flag.ROLLOVER_INFERRED in result.flags


def test_no_rollover_without_a_known_maximum_rate() -> None:
    # The same drop on a register whose rate the catalogue does not bound: a reading error.
    result = interval_deltas([r(0, "99995"), r(1, "3"), r(2, "99996")], [], (0, 3 * MIN),
                             GAP)
    assert result.amount == Decimal(1)
    assert Flag.BACKWARDS in result.flags and Flag.ROLLOVER_INFERRED not in result.flags


def test_clock_set_back_is_not_a_rollover() -> None:
    # The case: the device clock goes back 120 s at 98,437 kWh; readings of the two
    # minutes interleave. A rollover would imply 99,996 kWh in 10 s (36 GW): impossible for
    # 2,000 kW, so the lower readings are skipped and the day keeps its true 3 kWh.
    readings = [r(0, "98436"), r(1, "98436.5"), r(1.1, "98436.1"), r(1.5, "98437"),
                r(1.6, "98436.6"), r(2, "98437.4"), r(3, "98439")]
    event = CounterEvent(int(1.05 * MIN), EventKind.CLOCK_ADJUSTED)
    result = interval_deltas(readings, [event], (0, 4 * MIN), GAP, CRUSHER)
    assert result.amount == Decimal(3)
    assert Flag.ROLLOVER_INFERRED not in result.flags
    assert Flag.CLOCK_ADJUSTED in result.flags


def test_declared_reset_counts_up_to_the_final_value() -> None:
    # 500 -> 510 -> reset (final 512, restart 0) -> 4: 10 + 2 + 4 = 16.
    event = CounterEvent(int(1.5 * MIN), EventKind.RESET, Decimal(512), Decimal(0))
    result = interval_deltas([r(0, "500"), r(1, "510"), r(2, "4")], [event], (0, 3 * MIN), GAP)
    assert result.amount == Decimal(16)
    assert Flag.RESET in result.flags
    assert Flag.FINAL_UNKNOWN not in result.flags


def test_reset_without_final_value_is_flagged() -> None:
    # Final unknown: the last reading (510) stands in, so 500 -> 510 -> 0 -> 4 = 14.
    event = CounterEvent(int(1.5 * MIN), EventKind.RESET)
    result = interval_deltas([r(0, "500"), r(1, "510"), r(2, "4")], [event], (0, 3 * MIN), GAP)
    assert result.amount == Decimal(14)
    assert {Flag.RESET, Flag.FINAL_UNKNOWN} <= result.flags


def test_undeclared_restart_never_counts_the_new_start_reading() -> None:
    # 9,000 -> 500 -> 503: a new meter, confirmed by the next reading. Its 500 is not
    # consumption: the minute across the swap is uncovered (to be substituted), then 3.
    result = interval_deltas([r(0, "9000"), r(1, "500"), r(2, "503")], [], (0, 2 * MIN), GAP)
    assert result.amount == Decimal(3)
    assert result.uncovered == ((0, MIN),)
    assert Flag.RESET_UNDECLARED in result.flags


def test_unconfirmed_drop_is_a_reading_error() -> None:
    # 9,000 -> 500 -> 9,001: the low reading is not confirmed (another source, a glitch).
    result = interval_deltas([r(0, "9000"), r(1, "500"), r(2, "9001")], [], (0, 2 * MIN), GAP)
    assert (result.amount, result.uncovered) == (Decimal(1), ())
    assert Flag.BACKWARDS in result.flags and Flag.RESET_UNDECLARED not in result.flags


def test_implausible_jump_is_skipped() -> None:
    # 100 -> 1,000,000 -> 101 within minutes on a 2,000 kW crusher: a spurious reading.
    result = interval_deltas([r(0, "100"), r(1, "1000000"), r(2, "101")], [], (0, 2 * MIN),
                             GAP, CRUSHER)
    assert result.amount == Decimal(1)
    assert Flag.JUMP in result.flags


def test_declared_replacement_without_start_value_counts_nothing_across_it() -> None:
    event = CounterEvent(int(0.5 * MIN), EventKind.REPLACED, Decimal(1000), None)
    result = interval_deltas([r(0, "990"), r(1, "500"), r(2, "504")], [event], (0, 2 * MIN),
                             GAP)
    # The old meter's 10 up to its final value is known; the new one's start 500 is not
    # consumption, and what it counted before its first reading is unknown.
    assert result.amount == Decimal(4)
    assert result.uncovered == ((0, MIN),)


def test_meter_replacement_joins_old_and_new_meter() -> None:
    # Old meter 990 -> final 1000.5; new meter starts at 20 and shows 25: 10.5 + 5 = 15.5.
    event = CounterEvent(int(0.5 * MIN), EventKind.REPLACED, Decimal("1000.5"), Decimal(20))
    result = interval_deltas([r(0, "990"), r(1, "25")], [event], (0, MIN), GAP)
    assert result.amount == Decimal("15.5")
    assert result.flags == {Flag.REPLACED}


def test_small_step_backwards_counts_nothing() -> None:
    # 500 -> 499.9: neither a rollover (not near 1,000) nor a restart (not below 250): the
    # reading is skipped, so 500 -> 501 = 1.
    result = interval_deltas([r(0, "500"), r(1, "499.9"), r(2, "501")], [], (0, 2 * MIN), GAP)
    assert result.amount == Decimal(1)
    assert Flag.BACKWARDS in result.flags


def test_gap_keeps_the_total_and_flags_the_estimated_spread() -> None:
    # Readings at 0, 1 and 31 min: 0 -> 1 -> 61. The 30-min gap (60 units) spreads over
    # [0, 15): 1 + 60 x 14/30 = 29, of which 28 substituted; [15, 30): 60 x 15/30 = 30.
    readings = [r(0, "0"), r(1, "1"), r(31, "61")]
    first = interval_deltas(readings, [], (0, 15 * MIN), GAP)
    second = interval_deltas(readings, [], (15 * MIN, 30 * MIN), GAP)
    assert (first.amount, first.substituted) == (Decimal(29), Decimal(28))
    assert first.coverage == Decimal(1) / 15
    assert Flag.GAP_BRIDGED in first.flags
    assert (second.amount, second.substituted, second.coverage) == (D(30), D(30), D(0))


def test_gap_inside_the_interval_is_exact() -> None:
    # The gap from 1 to 31 min lies inside [0, 60): its total is not substituted.
    readings = [r(0, "0"), r(1, "1"), r(31, "61"), r(60, "70")]
    result = interval_deltas(readings, [], (0, 60 * MIN), GAP)
    assert (result.amount, result.substituted, result.coverage) == (D(70), D(0), D(1))


def test_time_without_readings_is_uncovered_then_substituted() -> None:
    # Readings stop at 10 min: [10, 15) is uncovered. The mean rate of the known segments is
    # (30 - 10) / 10 min = 2/min, so the estimate for 5 min is 10: 20 + 10 = 30.
    readings = [r(0, "10"), r(5, "18"), r(10, "30")]
    segs = segments(readings, [], GAP)
    result = apportion(segs, (0, 15 * MIN))
    assert result.uncovered == ((10 * MIN, 15 * MIN),)
    assert Flag.UNCOVERED in result.flags
    filled = substitute(result, mean_rate(segs) * result.uncovered_ms, Flag.ESTIMATED)
    assert abs(filled.amount - 30) < Decimal("1e-20")
    assert abs(filled.substituted - 10) < Decimal("1e-20")
    assert filled.flags == {Flag.ESTIMATED}


def test_no_readings_at_all() -> None:
    result = interval_deltas([], [], (0, MIN), GAP)
    assert (result.amount, result.coverage, result.uncovered) == (D(0), D(0), ((0, MIN),))


def test_integrated_power_and_plausibility() -> None:
    # 60 kW constant for 30 min = 30 kWh; 36 kWh on the register differs by 6/36 = 16.7 %.
    power = [r(0, "60"), r(30, "60")]
    integrated = integrated_power_kwh(power, (0, 30 * MIN))
    assert integrated == 30
    assert power_mismatch(Decimal(36), integrated, Decimal("0.1"), Decimal(1))
    assert not power_mismatch(Decimal(32), integrated, Decimal("0.1"), Decimal(1))
    assert not power_mismatch(Decimal("0.5"), Decimal("0.1"), Decimal("0.1"), Decimal(1))


def test_constant_load_sampled_every_two_minutes_matches_its_register() -> None:
    # 120 kW constant, samples at 1, 3, ..., 13 min of a quarter: 30 kWh, not 24.
    power = [r(m, "120") for m in range(1, 15, 2)]
    energy = power_energy_kwh(power, (0, 15 * MIN))
    assert energy == 30
    assert not power_mismatch(Decimal(30), energy, Decimal("0.1"), Decimal(1))
    assert power_energy_kwh(power[:2], (0, 15 * MIN)) is None


@given(st.lists(st.tuples(st.integers(1, 600_000), st.decimals(0, 1000, places=3)),
                min_size=2, max_size=30),
       st.lists(st.integers(0, 10_000_000), min_size=1, max_size=5))
def test_monotonic_counter_partition_sums_to_the_difference(
        steps: list[tuple[int, Decimal]], cuts: list[int]) -> None:
    """Law: intervals that tile [first, last] reading add up to last - first, exactly."""
    ts, value, readings = 0, Decimal(0), []
    for dt, increase in steps:
        ts, value = ts + dt, value + increase
        readings.append(Reading(ts, value))
    start, end = readings[0].ts, readings[-1].ts
    edges = sorted({start, end, *(c for c in cuts if start < c < end)})
    segs = segments(readings, [], GAP)
    parts = [apportion(segs, (a, b)).amount for a, b in itertools.pairwise(edges)]
    assert abs(sum(parts) - (readings[-1].value - readings[0].value)) < Decimal("1e-20")
