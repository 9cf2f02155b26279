"""Simulated time: a stepped clock, paced to run at most `speed` times faster than a base clock.

It satisfies `adapters.clock.Clock`, so everything that takes a clock can run on plant time.
"""

from __future__ import annotations

from adapters.clock import Clock, SystemClock

# A loop this far behind its pace (base seconds) may hurry to catch up: it absorbs the
# overshoot of many short sleeps. Further behind, the pace restarts instead.
CATCH_UP_S = 0.01


class SimulatedClock:
    """Plant time from `start_ms` that moves only when its user sleeps (or advances it).

    A simulation loop does one round of work, then sleeps its step: plant time moves by
    exactly that step, so the rounds, and everything they sample, do not depend on how fast
    the machine is. Time is read off the plant, never off the wall clock.

    `speed` only paces the loop against `base`: a sleep waits until `base` has caught up
    with plant time divided by `speed`. A loop that falls further behind than `CATCH_UP_S`
    (a busy machine) is not hurried to catch up: the pace restarts from there, so plant time
    never passes faster than `speed` times base time, plus `CATCH_UP_S`. `base` is injectable
    so that tests pace without sleeping.
    """

    def __init__(self, start_ms: int, speed: float, base: Clock | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._start_ms = start_ms
        self.speed = speed
        self._base = base or SystemClock()
        self._elapsed_ms = 0
        self._origin = self._base.monotonic()  # base time at which plant time was `start_ms`

    @property
    def start_ms(self) -> int:
        return self._start_ms

    def restart(self) -> None:
        """Go back to `start_ms` and pace from now: setup that took real time is not made up
        for by running faster."""
        self._elapsed_ms = 0
        self._origin = self._base.monotonic()

    def monotonic(self) -> float:
        """Simulated seconds since the clock was made (or restarted)."""
        return self._elapsed_ms / 1000

    def now_ms(self) -> int:
        return self._start_ms + self._elapsed_ms

    def advance(self, seconds: float) -> float:
        """Move plant time on by `seconds`; return the base seconds to wait to keep the pace.

        For loops that wait their own way (asyncio); the others call `sleep`.
        """
        self._elapsed_ms += max(0, round(seconds * 1000))
        paced_s = self._elapsed_ms / 1000 / self.speed  # base time this plant time deserves
        base_now = self._base.monotonic()
        if base_now - self._origin > paced_s + CATCH_UP_S:  # far behind: restart the pace
            self._origin = base_now - paced_s - CATCH_UP_S
        return max(0.0, self._origin + paced_s - base_now)

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of simulated time: plant time moves by exactly that much."""
        wait_s = self.advance(seconds)
        if wait_s > 0:
            self._base.sleep(wait_s)
