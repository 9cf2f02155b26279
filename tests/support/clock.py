"""The one fake clock of the tests: time moves only when a test (or the code under test)
says so, never with the wall clock, so a test runs the same on an idle or a busy machine."""

from __future__ import annotations

START_MS = 1_780_000_000_000  # 2026-05-28T20:26:40Z


class FakeClock:
    """An `adapters.clock.Clock` whose time moves only through `advance` and `sleep`.

    `now` (epoch ms) may also be set directly; `monotonic` counts seconds from `start_ms`
    and moves with it. Every `sleep` is recorded in `sleeps` and returns at once.
    """

    def __init__(self, start_ms: int = START_MS) -> None:
        self.start_ms = start_ms
        self.now = start_ms
        self.sleeps: list[float] = []

    def now_ms(self) -> int:
        return self.now

    def monotonic(self) -> float:
        return (self.now - self.start_ms) / 1000

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"time does not go backwards: advance({seconds})")
        self.now += round(seconds * 1000)

    def sleep(self, seconds: float) -> None:
        """As `time.sleep`: a negative duration does not sleep."""
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
