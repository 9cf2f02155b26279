"""Reconnect delays: capped exponential backoff with full jitter. Pure; seed it to test it."""

from __future__ import annotations

import math
import random

from pydantic import BaseModel, ConfigDict, Field


class BackoffSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_s: float = Field(1.0, gt=0, description="Delay before the first reconnect attempt.")
    max_s: float = Field(60.0, gt=0, description="Cap of the delay between attempts.")
    factor: float = Field(2.0, ge=1, description="Growth of the delay after each failure.")
    jitter: float = Field(0.5, ge=0, le=1, description="Fraction of each delay that is random, "
                                                       "so that a plant's agents do not all "
                                                       "reconnect at once.")


class Backoff:
    """Delay after the n-th consecutive failure: min(max, initial * factor^n), minus jitter."""

    def __init__(self, settings: BackoffSettings, rng: random.Random) -> None:
        self._settings = settings
        self._rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        s = self._settings
        grows_past_cap = self.failures * math.log(s.factor) >= math.log(s.max_s / s.initial_s)
        base = s.max_s if grows_past_cap else s.initial_s * s.factor ** self.failures
        self.failures += 1
        return base * (1 - s.jitter * self._rng.random())

    def reset(self) -> None:
        self.failures = 0
