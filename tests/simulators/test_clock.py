"""The simulated clock runs `speed` times faster than its base clock."""

from __future__ import annotations

import pytest

from simulators import SimulatedClock


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def now_ms(self) -> int:
        return int(self.t * 1000)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_one_wall_minute_is_one_plant_day_at_speed_1440() -> None:
    base = FakeClock()
    clock = SimulatedClock(1_000_000, 1440, base)
    clock.sleep(86_400)
    assert base.slept == [60.0]
    assert clock.now_ms() == 1_000_000 + 86_400_000
    assert clock.monotonic() == 86_400


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SimulatedClock(0, 0, FakeClock())


def test_a_restart_returns_to_the_start_so_that_setup_costs_no_plant_time() -> None:
    base = FakeClock()
    clock = SimulatedClock(1_000_000, 1440, base)
    base.t += 0.5  # building the agents took half a wall second: 12 plant-minutes
    assert clock.now_ms() == 1_000_000 + 720_000
    clock.restart()
    assert (clock.start_ms, clock.now_ms(), clock.monotonic()) == (1_000_000, 1_000_000, 0)
    base.t += 1
    assert clock.now_ms() == 1_000_000 + 1_440_000
