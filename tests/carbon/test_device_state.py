"""What a device says of itself bounds the engine (issue 15): a birth's declared maximum
judges rollovers with the catalogue's, and births, deaths and the `state` metric decide what
an uncovered gap may be filled with."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from carbon.activity import limits_of
from carbon.counters import (
    Flag,
    Reading,
    apportion,
    estimate,
    segments,
)
from carbon.lifecycle import UNKNOWN, DeviceState, LifeEvent, StateReading, lifecycle_window
from carbon.periods import parse_period
from contract.catalogue import EquipmentType
from tests.carbon.plant import CRUSHER, DAY, FURNACE, MIN, TZ, Plant
from tests.carbon.test_engine import make_engine

D = Decimal
CATALOGUE_KW = 2000  # a crusher station's power_kw maximum (contract.catalogue)
TOP = D(1_000_000)
MAX_GAP = 300_000
H = 3_600_000


def birth(ts: int, power_kw: int | None, session: int = 1) -> LifeEvent:
    maxima = ((("power_kw", D(power_kw)),) if power_kw is not None else ())
    return LifeEvent(ts, True, session, maxima)


def rollovers(readings: list[Reading], births: tuple[LifeEvent, ...]) -> tuple[bool, Decimal]:
    """Whether a crusher's kWh register is taken to roll over, and the total it counts."""
    segs = segments(readings, (), MAX_GAP,
                    limits_of(EquipmentType.CRUSHER_STATION, "energy_kwh", births))
    inferred = any(e.flag is Flag.ROLLOVER_INFERRED for s in segs for e in s.events)
    return inferred, sum((s.amount for s in segs), D(0))


@given(st.data(), st.integers(1, CATALOGUE_KW - 1), st.integers(1, 30),
       st.integers(0, 10 * 24 * H))
def test_a_drop_beyond_the_declared_maximum_is_never_a_rollover(
        data: st.DataObject, declared_kw: int, minutes: int, born_before: int) -> None:
    # The rate check runs over at least 10 minutes with a slack of 1.5 (counters.Limits):
    # kW x min / 60 x 1.5 kWh, in Wh: kW x min x 25.
    window_min = max(minutes, 10)
    implied = D(data.draw(st.integers(declared_kw * window_min * 25 + 1,
                                      CATALOGUE_KW * window_min * 25))) / 1000
    below_top = D(data.draw(st.integers(1, int(min(implied, D(1000)) * 1000)))) / 1000
    t0 = 1_800_000_000_000
    readings = [Reading(t0, TOP - below_top), Reading(t0 + minutes * MIN, implied - below_top)]
    assert readings[0].value >= TOP * D("0.9") and readings[1].value < TOP * D("0.1")
    declared = (birth(t0 - born_before, declared_kw),)

    assert rollovers(readings, ()) == (True, implied)  # the catalogue alone allows it
    inferred, counted = rollovers(readings, declared)
    assert not inferred and counted == 0  # a reading error: it adds nothing
    # A declaration that comes after the drop's interval began does not judge it.
    assert rollovers(readings, (birth(t0 + 1, declared_kw),))[0]


def test_the_tighter_of_declaration_and_catalogue_is_in_force_from_each_birth_on() -> None:
    limits = limits_of(EquipmentType.CRUSHER_STATION, "energy_kwh",
                       (birth(100, 500), birth(200, 5000), birth(300, None)))
    per_h = {ts: limits.rate_at(ts) * H for ts in (99, 100, 199, 200, 300)}  # type: ignore[operator]
    assert per_h == {99: CATALOGUE_KW, 100: 500, 199: 500, 200: CATALOGUE_KW,
                     300: CATALOGUE_KW}
    # A register the catalogue does not bound is bounded by a declaration alone.
    assert limits_of(EquipmentType.DISMANTLING_BATTERY, "input_t", ()).rate_at(0) is None


def test_a_record_names_the_bound_and_its_source_and_recomputes_identically() -> None:
    plant = Plant.day("site-a")
    plant.birth(CRUSHER, DAY.start_ms - 5 * H, maxima={"power_kw": 400})
    plant.birth(FURNACE, DAY.start_ms - 5 * H, maxima={"power_kw": 9000})  # above catalogue
    engine, _, _ = make_engine(plant)
    closed = engine.close("site-a", DAY)
    limits = closed.computation.content["method"]["limits"]
    assert limits["L1/crusher-1/energy_kwh"] == [{"source": "birth", "max_per_h": "400"}]
    assert limits["L2/furnace-1/energy_kwh"] == [{"source": "catalogue", "max_per_h": "5000"}]
    assert limits["L2/furnace-1/gas_nm3"] == [{"source": "catalogue", "max_per_h": "5000"}]
    assert limits["L1/meter-1/energy_kwh"] == [{"source": "catalogue", "max_per_h": "100000"}]
    assert "L2/furnace-1/input_t" not in limits  # a smelter's feed has no rate gauge
    again = engine.recompute("site-a", DAY)
    assert again.identical and again.changes == ()


# ------------------------------------------------------------------------ gaps

QUARTER = 15 * MIN
EDGE = 15 * MIN
STATES = ("running", "idle", "blocked", "fault", "off")


@st.composite
def quarters(draw: st.DrawFn) -> tuple[list[Reading], DeviceState]:
    """A register read every minute over part of a quarter (edges uncovered), and a device
    with any births, deaths (of any session) and states around it."""
    first = draw(st.integers(0, 7)) * MIN + draw(st.integers(1, MIN - 1))
    last = draw(st.integers(first // MIN + 2, 15)) * MIN - draw(st.integers(0, MIN - 1))
    rate = D(draw(st.integers(0, 50)))
    readings = [Reading(t, D(500) + rate * (t - first) / MIN)
                for t in range(first, max(last, first + 2 * MIN), MIN)]
    times = st.integers(-QUARTER, 2 * QUARTER)
    lifecycle = draw(st.lists(st.builds(LifeEvent, times, st.booleans(), st.integers(0, 3)),
                              max_size=4, unique_by=lambda e: (e.ts, e.born)))
    states = draw(st.lists(st.builds(StateReading, times, st.sampled_from(STATES)),
                           max_size=4, unique_by=lambda s: s.ts))
    return readings, DeviceState(tuple(sorted(lifecycle)), tuple(sorted(states)))


@given(quarters())
def test_the_device_state_only_ever_takes_away_from_an_estimate(
        case: tuple[list[Reading], DeviceState]) -> None:
    readings, device = case
    segs = segments(readings, (), MAX_GAP)
    measured = apportion(segs, (0, QUARTER))
    blind = estimate(measured, segs, EDGE)
    seen = estimate(measured, segs, EDGE, device)
    assert measured.amount <= seen.amount <= blind.amount
    # Every substitution is listed with its method and amount; state_off adds zero.
    assert seen.substituted - measured.substituted == sum(a for _, a in seen.filled)
    assert all(a == 0 for f, a in seen.filled if f is Flag.STATE_OFF)
    assert {f for f, _ in seen.filled} <= {Flag.ESTIMATED, Flag.STATE_OFF}
    # Time the device was not born yet or dead is never filled: it stays uncovered.
    for lo, hi in measured.uncovered:
        for moment in range(lo, hi, 10_000):
            if not device.alive_at(moment):
                assert any(a <= moment < b for a, b in seen.uncovered), moment
                assert Flag.DEVICE_ABSENT in seen.flags
    # Without anything known of the device, the estimate is today's bounded one.
    if not device.lifecycle and not device.states:
        assert seen == blind


@given(quarters(), st.sampled_from(STATES[:-1]))
def test_a_device_last_seen_off_is_substituted_with_zero_and_others_are_estimated(
        case: tuple[list[Reading], DeviceState], other: str) -> None:
    readings, _ = case
    segs = segments(readings, (), MAX_GAP)
    measured = apportion(segs, (0, QUARTER))
    blind = estimate(measured, segs, EDGE)
    everywhere = (-QUARTER, 0, 7 * MIN, 2 * QUARTER)
    off = estimate(measured, segs, EDGE,
                   DeviceState(states=tuple(StateReading(t, "off") for t in everywhere)))
    assert off.amount == measured.amount and off.substituted == measured.substituted
    assert off.filled == ((Flag.STATE_OFF, D(0)),)
    assert off.uncovered == blind.uncovered  # bounded as an estimate is
    on = estimate(measured, segs, EDGE,
                  DeviceState(states=tuple(StateReading(t, other) for t in everywhere)))
    assert on == blind


def test_before_its_first_report_a_device_is_taken_at_its_first_state() -> None:
    device = DeviceState(states=(StateReading(5 * MIN, "off"), StateReading(9 * MIN, "running")))
    assert device.off(0, 5 * MIN)  # before any report: its first, off
    assert not device.off(10 * MIN, 12 * MIN)  # after: its last before the gap, running


def test_a_death_counts_only_for_the_session_it_ends() -> None:
    stale_will = DeviceState((LifeEvent(0, True, 5), LifeEvent(10, False, 4)))
    assert stale_will.alive_at(20)  # the broker's will of an older session
    died = DeviceState((LifeEvent(0, True, 5), LifeEvent(10, False, 5)))
    assert died.alive_at(9) and not died.alive_at(10)
    reborn = DeviceState((*died.lifecycle, LifeEvent(30, True, 6)))
    assert list(reborn.presence(0, 40)) == [(0, 10, True), (10, 30, False), (30, 40, True)]
    unborn = DeviceState((LifeEvent(100, True, 0),))
    assert not unborn.alive_at(99) and unborn.alive_at(100)
    assert DeviceState((LifeEvent(100, False, 0),)).alive_at(50)  # its birth unknown


def test_a_slice_keeps_the_last_birth_and_death_before_it() -> None:
    events = [LifeEvent(t, born, 1) for t, born in ((0, True), (5, False), (7, True),
                                                    (20, True), (40, False))]
    assert lifecycle_window(events, 10, 30) == (events[1], events[2], events[3])


def test_a_gap_of_a_dead_or_off_device_in_a_closed_record() -> None:
    """Through the engine: the furnace stops reporting at 23:50. Off: its last 10 minutes
    are a zero substitution (state_off). Dead (its session's death at 23:51): no estimate
    after the death, the time stays uncovered. Unknown: estimated at its nearest rate."""
    last = parse_period("2026-10-05T23:45", TZ)
    stop = last.start_ms + 5 * MIN

    def close(plant: Plant) -> dict[str, object]:
        plant.drop(FURNACE, stop + 1, DAY.end_ms + 60 * MIN)
        engine, _, _ = make_engine(plant)
        computation = engine.compute("site-a", last)
        furnace = next(r for r in computation.content["results"]["rows"]
                       if r["device"] == "furnace-1")
        return {"kwh": D(furnace["values"]["electricity_kwh"]),
                "methods": sorted({(s["method"], s["amount"])
                                   for s in computation.content["quality"]["substitutions"]
                                   if s["device"] == "L2/furnace-1"
                                   and s["quantity"] == "electricity_kwh"}),
                "flags": furnace["flags"]}

    blind = close(Plant.day("site-a"))
    assert blind["kwh"] == 45 and blind["methods"] == [("estimated", "30")]
    off = Plant.day("site-a")
    off.state(FURNACE, stop, "off")
    seen = close(off)
    assert seen["kwh"] == 15 and seen["methods"] == [("state_off", "0")]
    dead = Plant.day("site-a")
    dead.birth(FURNACE, DAY.start_ms, session=3)
    dead.death(FURNACE, stop + MIN, session=3)
    gone = close(dead)
    # One minute alive after the last reading is estimated (3 kWh), the rest stays uncovered.
    assert gone["kwh"] == 18 and gone["methods"] == [("estimated", "3")]
    assert "device_absent" in gone["flags"] and "uncovered" in gone["flags"]
    assert UNKNOWN.alive_at(0)


life_events = st.lists(st.builds(LifeEvent, st.integers(0, 100), st.booleans(),
                                 st.integers(0, 3)),
                       max_size=8, unique_by=lambda e: (e.ts, e.born)).map(sorted)


@given(life_events, st.integers(0, 100), st.integers(0, 100), st.integers(0, 100),
       st.integers(0, 100))
def test_a_slice_of_a_wider_read_decides_the_device_life_as_the_whole_history(
        events: list[LifeEvent], a: int, b: int, c: int, d: int) -> None:
    """What the reader keeps of a wide window (and a slice keeps of that) is enough: a
    quarter cut from a day's read equals it read alone, and sees the device alive or dead as
    its whole history says, with the same declarations in force; except that "not born yet"
    needs the first birth inside the window (the reader's horizon)."""
    wide_start, start, end, wide_end = sorted((a, b, c, d))
    wide = lifecycle_window(events, wide_start, wide_end)
    cut = lifecycle_window(wide, start, end)
    assert cut == lifecycle_window(events, start, end)
    whole, sliced = DeviceState(tuple(events)), DeviceState(cut)
    unborn_beyond = bool(events) and events[0].born and events[0].ts >= end
    for moment in range(start, end):
        assert sliced.alive_at(moment) == (whole.alive_at(moment) or unborn_beyond), moment
        in_force = [e.ts for e in whole.births if e.ts <= moment][-1:]
        assert [e.ts for e in sliced.births if e.ts <= moment][-1:] == in_force
