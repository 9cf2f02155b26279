"""Simulated time: a clock that runs `speed` times faster than a base clock.

It satisfies `adapters.clock.Clock`, so everything that takes a clock can run on plant time.
"""

from __future__ import annotations

from adapters.clock import Clock, SystemClock


class SimulatedClock:
    """Simulated time starting at `start_ms`, running `speed` times faster than `base`.

    `base` is injectable so that tests can drive the clock without sleeping.
    """

    def __init__(self, start_ms: int, speed: float, base: Clock | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._start_ms = start_ms
        self.speed = speed
        self._base = base or SystemClock()
        self._origin = self._base.monotonic()

    @property
    def start_ms(self) -> int:
        return self._start_ms

    def restart(self) -> None:
        """Go back to `start_ms` now: a run whose setup took real time then loses no plant time."""
        self._origin = self._base.monotonic()

    def monotonic(self) -> float:
        """Simulated seconds since the clock was made (or restarted)."""
        return (self._base.monotonic() - self._origin) * self.speed

    def now_ms(self) -> int:
        return self._start_ms + int(self.monotonic() * 1000)

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of simulated time."""
        self._base.sleep(seconds / self.speed)
