"""Seeded randomness: per-device generators and slowly wandering disturbances."""

from __future__ import annotations

import hashlib
import math
import random


def device_rng(seed: int, key: str) -> random.Random:
    """A generator for one device that depends only on the run's seed and the device's key."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Wander:
    """A first-order autoregressive disturbance: mean zero, standard deviation `sigma`."""

    def __init__(self, rng: random.Random, sigma: float, tau_s: float) -> None:
        self._rng = rng
        self._sigma = sigma
        self._tau_s = tau_s
        self.value = 0.0

    def step(self, dt_s: float) -> float:
        keep = math.exp(-dt_s / self._tau_s)
        shock = self._sigma * math.sqrt(1 - keep * keep) * self._rng.gauss(0.0, 1.0)
        self.value = self.value * keep + shock
        return self.value


def happens(rng: random.Random, dt_s: float, mean_s: float) -> bool:
    """Whether an event with mean time `mean_s` between occurrences happens within `dt_s`."""
    return mean_s > 0 and rng.random() < -math.expm1(-dt_s / mean_s)


def approach(value: float, target: float, dt_s: float, tau_s: float) -> float:
    """First-order lag of `value` towards `target` with time constant `tau_s`."""
    return target + (value - target) * math.exp(-dt_s / tau_s)
