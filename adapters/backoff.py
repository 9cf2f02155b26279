"""Retry delays: capped exponential backoff with full jitter. Pure; seed it to test it.

Every retry loop of Loopmeter waits through this one implementation: agents reconnecting to
the broker, ingest's consumer reconnecting, ingest's writes to InfluxDB. The jitter keeps a
plant's agents, or a pool of ingest workers, from retrying at the same instants.
"""

from __future__ import annotations

import math
import random

from pydantic import BaseModel, ConfigDict, Field


class BackoffSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_s: float = Field(1.0, gt=0, description="Delay before the first retry.")
    max_s: float = Field(60.0, gt=0, description="Cap of the delay between attempts.")
    factor: float = Field(2.0, ge=1, description="Growth of the delay after each failure.")
    jitter: float = Field(0.5, ge=0, le=1, description="Fraction of each delay that is random, "
                                                       "so that many clients do not all "
                                                       "retry at once.")


class Backoff:
    """Delay after the n-th consecutive failure: min(max, initial * factor^n), minus jitter."""

    def __init__(self, settings: BackoffSettings, rng: random.Random | None = None) -> None:
        self._settings = settings
        self._rng = rng or random.Random()
        self.failures = 0

    @classmethod
    def exact(cls, initial_s: float, max_s: float) -> Backoff:
        """Doubling delays without jitter, for callers that are alone on their resource."""
        return cls(BackoffSettings(initial_s=initial_s, max_s=max_s, jitter=0))

    def delay_after(self, failures: int) -> float:
        """The delay after `failures` consecutive failures (0 = the first retry)."""
        s = self._settings
        grows_past_cap = failures * math.log(s.factor) >= math.log(s.max_s / s.initial_s)
        base = s.max_s if grows_past_cap else s.initial_s * s.factor ** failures
        return base * (1 - s.jitter * self._rng.random())

    def next_delay(self) -> float:
        delay = self.delay_after(self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
