"""Cumulative registers as a meter shows them, and the truth behind them.

A register shows a truncated value that rolls over at a maximum and may be reset or replaced
by a new meter; `true_total` keeps counting what really flowed through, whatever it shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from contract.catalogue import REGISTER_MAX

RESOLUTION_BY_UNIT = {"kWh": 0.01, "Nm3": 0.01, "kg": 0.1, "t": 0.001, "units": 1.0}


@dataclass(frozen=True, slots=True)
class RegisterConfig:
    """How a register displays: start value, resolution and the value at which it rolls over."""

    initial: float = 0.0
    resolution: float = 0.001
    rollover_at: float = REGISTER_MAX

    def __post_init__(self) -> None:
        if not 0 < self.resolution < self.rollover_at <= REGISTER_MAX:
            raise ValueError("need 0 < resolution < rollover_at <= REGISTER_MAX")
        if not 0 <= self.initial < self.rollover_at:
            raise ValueError("initial must be in [0, rollover_at)")


@dataclass(slots=True)
class Register:
    config: RegisterConfig = field(default_factory=RegisterConfig)
    value: float = field(init=False)
    true_total: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.value = self.config.initial

    def add(self, amount: float) -> bool:
        """Count `amount`; return True if the register rolled over."""
        self.true_total += amount
        self.value += amount
        if self.value < self.config.rollover_at:
            return False
        self.value -= self.config.rollover_at
        return True

    def shown(self) -> float:
        """The value on the display: truncated to the resolution, as registers do."""
        steps = math.floor(self.value / self.config.resolution + 1e-9)
        return round(steps * self.config.resolution, _decimals(self.config.resolution))

    def restart(self, value: float = 0.0) -> float:
        """Reset (or replace the meter, starting at `value`); return the final shown value."""
        final = self.shown()
        self.value = value
        return final


def _decimals(resolution: float) -> int:
    return max(0, -math.floor(math.log10(resolution) + 1e-9))
