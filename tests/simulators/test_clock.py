"""The simulated clock moves in steps, by exactly what its user sleeps, paced by `speed`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators import SimulatedClock
from simulators.clock import CATCH_UP_S
from tests.support.clock import FakeClock


def test_one_wall_minute_is_one_plant_day_at_speed_1440() -> None:
    base = FakeClock()
    clock = SimulatedClock(1_000_000, 1440, base)
    clock.sleep(86_400)
    assert base.sleeps == [60.0]
    assert clock.now_ms() == 1_000_000 + 86_400_000
    assert clock.monotonic() == 86_400


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SimulatedClock(0, 0, FakeClock())


def test_plant_time_does_not_move_with_the_wall_clock() -> None:
    base = FakeClock()
    clock = SimulatedClock(1_000_000, 1440, base)
    base.advance(0.5)  # building the agents took half a wall second
    assert (clock.now_ms(), clock.monotonic()) == (1_000_000, 0)


@given(st.lists(st.tuples(st.integers(0, 600_000), st.floats(0, 5)), max_size=30),
       st.sampled_from([1.0, 60.0, 1440.0, 100_000.0]))
def test_plant_time_moves_by_exactly_the_sleeps_however_slow_the_rounds(
        rounds: list[tuple[int, float]], speed: float) -> None:
    """A round that takes long (a busy machine) costs wall time, never plant time."""
    base = FakeClock()
    clock = SimulatedClock(0, speed, base)
    for step_ms, work_s in rounds:
        base.advance(work_s)
        clock.sleep(step_ms / 1000)
    assert clock.now_ms() == sum(step for step, _ in rounds)


@given(st.lists(st.tuples(st.integers(0, 600_000), st.floats(0, 5)), max_size=30))
def test_plant_time_never_runs_faster_than_the_speed(rounds: list[tuple[int, float]]) -> None:
    """Between the ends of any two rounds, plant time moves at most `speed` times the wall
    time, plus what `CATCH_UP_S` of hurry allows (and the fake base clock's 1 ms rounding)."""
    speed = 1440.0
    base = FakeClock()
    clock = SimulatedClock(0, speed, base)
    moments = [(base.monotonic(), clock.monotonic())]
    for step_ms, work_s in rounds:
        base.advance(work_s)  # a round's work, then its sleep
        clock.sleep(step_ms / 1000)
        moments.append((base.monotonic(), clock.monotonic()))
    for i, (wall_i, plant_i) in enumerate(moments):
        for wall_j, plant_j in moments[i:]:
            assert plant_j - plant_i <= speed * (wall_j - wall_i + CATCH_UP_S + 0.0005)


def test_a_late_round_restarts_the_pace_instead_of_hurrying() -> None:
    base = FakeClock()
    clock = SimulatedClock(0, 60, base)
    base.advance(10)  # a round that should have taken 1 s took 10
    clock.sleep(60)
    assert base.sleeps == []
    clock.sleep(60)  # the next minute takes a wall second again
    assert base.sleeps == [pytest.approx(1 - CATCH_UP_S)]


def test_a_little_lateness_is_made_up_so_that_short_sleeps_keep_the_pace() -> None:
    base = FakeClock()
    clock = SimulatedClock(0, 1000, base)
    base.advance(CATCH_UP_S / 2)  # an overshot sleep
    assert clock.advance(10) == pytest.approx(0.01 - CATCH_UP_S / 2)


def test_a_restart_returns_to_the_start_and_paces_from_then() -> None:
    base = FakeClock()
    clock = SimulatedClock(1_000_000, 1440, base)
    clock.sleep(720)
    base.advance(3)
    clock.restart()
    assert (clock.start_ms, clock.now_ms(), clock.monotonic()) == (1_000_000, 1_000_000, 0)
    clock.sleep(1440)
    assert base.sleeps == [0.5, 1.0]
    assert clock.now_ms() == 1_000_000 + 1_440_000


def test_advance_says_how_long_to_wait_and_does_not_wait() -> None:
    base = FakeClock()
    clock = SimulatedClock(0, 100, base)
    assert clock.advance(50) == 0.5
    assert (clock.now_ms(), base.sleeps, base.monotonic()) == (50_000, [], 0)
