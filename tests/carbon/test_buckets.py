"""A register's increase per bucket: the engine's rules, and buckets that add up to the window.

The law the gateway relies on: over any readings (monotone consumption plus a rollover, a
backwards step, an undeclared restart, duplicated readings), the buckets' increases add up to
`register_increase` over the same readings exactly, none is negative, and in a clean run each
is its last reading minus the reading just before the bucket.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon import (
    BucketIncrease,
    Flag,
    LifeEvent,
    Reading,
    bucket_increases,
    register_increase,
)
from contract import EquipmentType

CRUSHER = EquipmentType.CRUSHER_STATION  # power up to 2,000 kW
CATALOGUE_KW = Decimal(2000)  # the catalogue's maximum power_kw of a crusher station
MINUTE = 60_000
EVERY = 5 * MINUTE


def _readings(*pairs: tuple[int, str]) -> list[Reading]:
    return [Reading(minute * MINUTE, Decimal(value)) for minute, value in pairs]


def _amounts(buckets: list[BucketIncrease]) -> dict[int, Decimal]:
    return {b.start // MINUTE: b.amount for b in buckets}


def test_the_reading_before_a_bucket_is_its_baseline() -> None:
    readings = _readings((1, "100"), (4, "110"), (6, "125"), (12, "130"))
    buckets = bucket_increases(CRUSHER, "energy_kwh", readings, EVERY)
    assert _amounts(buckets) == {0: Decimal(10), 5: Decimal(15), 10: Decimal(5)}


def test_a_physical_rollover_counts_what_the_register_did() -> None:
    # A 10^5 register at 99,990 reads 12 a minute later: 22 kWh, possible at 2,000 kW.
    readings = _readings((3, "99980"), (4, "99990"), (6, "12"), (7, "20"))
    buckets = bucket_increases(CRUSHER, "energy_kwh", readings, EVERY)
    assert _amounts(buckets) == {0: Decimal(10), 5: Decimal(30)}
    assert Flag.ROLLOVER_INFERRED in buckets[1].flags


def test_a_backwards_step_adds_nothing_in_any_bucket() -> None:
    # 514 at minute 4 is a reading error: minute 6's 530 counts from 515, not from 514.
    readings = _readings((1, "500"), (2, "515"), (4, "514"), (6, "530"))
    buckets = bucket_increases(CRUSHER, "energy_kwh", readings, EVERY)
    assert _amounts(buckets) == {0: Decimal(15), 5: Decimal(15)}
    assert Flag.BACKWARDS in buckets[1].flags


def test_an_undeclared_restart_never_counts_the_new_meters_start() -> None:
    readings = _readings((1, "800"), (4, "810"), (6, "5"), (7, "9"), (11, "20"))
    buckets = bucket_increases(CRUSHER, "energy_kwh", readings, EVERY)
    assert _amounts(buckets) == {0: Decimal(10), 5: Decimal(4), 10: Decimal(11)}
    assert {Flag.RESET_UNDECLARED, Flag.UNCOVERED} <= buckets[1].flags


def test_a_bucket_needs_a_positive_width() -> None:
    with pytest.raises(ValueError, match="positive"):
        bucket_increases(CRUSHER, "energy_kwh", _readings((1, "1")), 0)


@st.composite
def registers(draw: st.DrawFn) -> tuple[list[Reading], bool]:
    """Readings of a crusher's kWh register, and whether they are clean (monotone, no
    event): consumption at most 2,000 kW sampled every 10 s to 3 min, from anywhere on a
    10^6 register (so it may roll over), with at most one injected event."""
    ts = draw(st.integers(0, 10**7)) * 1000
    value = Decimal(draw(st.integers(0, 999_999)))
    readings = []
    for _ in range(draw(st.integers(1, 40))):
        readings.append(Reading(ts, value % 1_000_000))
        dt = draw(st.integers(10, 180)) * 1000
        ts, value = ts + dt, value + Decimal(draw(st.integers(0, 2000 * dt // 3_600_000)))
    event = draw(st.sampled_from(["none", "backwards", "restart", "duplicate"]))
    if len(readings) < 3 or event == "none":
        clean = all(b.value >= a.value for a, b in pairwise(readings))
        return readings, clean
    at = draw(st.integers(1, len(readings) - 1))
    if event == "backwards":  # a device clock set back: one low reading
        step = Decimal(draw(st.integers(1, 50)))
        readings[at] = Reading(readings[at].ts, max(readings[at - 1].value - step, Decimal(0)))
    elif event == "restart":  # a new meter from `at` on, starting at a few kWh
        offset = readings[at].value - Decimal(draw(st.integers(0, 20)))
        readings[at:] = [Reading(r.ts, max(r.value - offset, Decimal(0))) for r in readings[at:]]
    else:  # a duplicate source sends the same reading again later
        readings.append(Reading(readings[-1].ts + 1000, readings[at].value))
    return readings, False


@given(registers(), st.sampled_from([MINUTE, EVERY, 15 * MINUTE, 3_600_000]))
def test_buckets_add_up_to_the_windows_increase(case: tuple[list[Reading], bool],
                                                every: int) -> None:
    readings, clean = case
    buckets = bucket_increases(CRUSHER, "energy_kwh", readings, every)
    window = register_increase(CRUSHER, "energy_kwh", readings)
    assert sum((b.amount for b in buckets), Decimal(0)) == window.amount
    assert all(b.amount >= 0 for b in buckets)
    assert [b.start for b in buckets] == sorted({r.ts - r.ts % every for r in readings})
    if clean:
        for bucket in buckets:
            before = [r for r in readings if r.ts < bucket.start] or readings[:1]
            inside = [r for r in readings if bucket.start <= r.ts < bucket.start + every]
            assert bucket.amount == inside[-1].value - before[-1].value


@st.composite
def births(draw: st.DrawFn, readings: list[Reading]) -> tuple[LifeEvent, ...]:
    """Up to three births around the readings, each declaring a power maximum (below, above
    or without the catalogue's 2,000 kW)."""
    lo, hi = readings[0].ts - 3_600_000, readings[-1].ts + 60_000
    found = []
    for session, ts in enumerate(sorted(draw(st.sets(st.integers(lo, hi), max_size=3)))):
        kw = draw(st.none() | st.integers(1, 3_000))
        maxima = () if kw is None else (("power_kw", Decimal(kw)),)
        found.append(LifeEvent(ts, True, session, maxima))
    return tuple(found)


@given(st.data(), registers(), st.sampled_from([MINUTE, EVERY, 15 * MINUTE]))
def test_with_births_the_buckets_still_add_up(
        data: st.DataObject, case: tuple[list[Reading], bool], every: int) -> None:
    """Births' declared maxima (the gateway passes them) bound rollovers and implausible
    jumps in both functions alike; where no declaration is tighter than the catalogue, a
    clean run is judged as without births (a tighter one may rightly refuse a fast rise)."""
    readings, clean = case
    declared = data.draw(births(sorted(readings, key=lambda r: r.ts)))
    buckets = bucket_increases(CRUSHER, "energy_kwh", readings, every, births=declared)
    window = register_increase(CRUSHER, "energy_kwh", readings, births=declared)
    assert sum((b.amount for b in buckets), Decimal(0)) == window.amount
    assert all(b.amount >= 0 for b in buckets)
    loose = all((b.maximum("power_kw") or CATALOGUE_KW) >= CATALOGUE_KW for b in declared)
    if clean and loose:
        assert window.amount == register_increase(CRUSHER, "energy_kwh", readings).amount


def test_a_declared_maximum_below_the_implied_rate_rules_a_rollover_out() -> None:
    # 99,990 -> 12 a minute later is 22 kWh: 2,000 kW allows it, a 50 kW declaration (at
    # most 12.5 kWh over the 10-minute rate window with its 1.5 slack) does not.
    readings = _readings((3, "99980"), (4, "99990"), (6, "12"), (7, "20"))
    declared = (LifeEvent(0, True, 1, (("power_kw", Decimal(50)),)),)
    assert register_increase(CRUSHER, "energy_kwh", readings).amount == 40
    result = register_increase(CRUSHER, "energy_kwh", readings, births=declared)
    assert result.amount == 18 and Flag.ROLLOVER_INFERRED not in result.flags
    buckets = bucket_increases(CRUSHER, "energy_kwh", readings, EVERY, births=declared)
    assert _amounts(buckets) == {0: Decimal(10), 5: Decimal(8)}
