"""The fake clock: it moves only when told, by exactly what it is told."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.clock import Clock
from tests.support.clock import START_MS, FakeClock

durations = st.floats(min_value=0, max_value=86_400, allow_nan=False)


def test_it_is_a_clock_that_starts_where_asked() -> None:
    clock: Clock = FakeClock(1_000)
    assert (clock.now_ms(), clock.monotonic()) == (1_000, 0.0)
    assert FakeClock().now_ms() == START_MS


def test_time_stands_still_until_it_is_moved() -> None:
    clock = FakeClock()
    assert [clock.now_ms() for _ in range(3)] == [START_MS] * 3
    assert clock.sleeps == []


@given(st.lists(durations, max_size=20))
def test_sleeps_are_recorded_and_move_both_times_together(seconds: list[float]) -> None:
    clock = FakeClock()
    for s in seconds:
        before_ms, before_mono = clock.now_ms(), clock.monotonic()
        clock.sleep(s)
        assert clock.now_ms() - before_ms == round(s * 1000)
        assert clock.monotonic() - before_mono == pytest.approx(round(s * 1000) / 1000)
    assert clock.sleeps == seconds
    assert clock.monotonic() == (clock.now_ms() - START_MS) / 1000


def test_advancing_is_not_sleeping() -> None:
    clock = FakeClock()
    clock.advance(1.5)
    assert (clock.now_ms(), clock.monotonic(), clock.sleeps) == (START_MS + 1500, 1.5, [])


def test_setting_now_moves_monotonic_time_too() -> None:
    clock = FakeClock()
    clock.now += 60_000
    assert clock.monotonic() == 60.0


def test_a_negative_sleep_returns_at_once_and_advancing_backwards_is_an_error() -> None:
    clock = FakeClock()
    clock.sleep(-1)
    assert (clock.now_ms(), clock.sleeps) == (START_MS, [-1])
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-0.001)
