"""What every equipment model offers, and the pieces they share: shifts, breakdowns, duty cycles.

A model is pure and deterministic: it owns a seeded generator and advances in steps of
simulated time. `step` returns what flowed during the step (counter increments by metric name,
plus `loss_t` for mass that left the process unmetered), `gauges` what its sensors show now.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from contract import EquipmentType
from simulators.noise import happens

Flows = dict[str, float]
Gauges = dict[str, float | str]
LOSS = "loss_t"
HOUR_S = 3600.0
AMBIENT_C = 25.0


@dataclass(slots=True)
class Notes:
    """Events a model wants to report, as (event name, detail), drained by its device."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, event: str, detail: str) -> None:
        self.items.append((event, detail))

    def drain(self) -> list[tuple[str, str]]:
        drained, self.items = self.items, []
        return drained


class Model(Protocol):
    """An equipment or meter model as the device wrapper drives it."""

    type: EquipmentType
    notes: Notes
    last: Flows

    def metric_names(self) -> tuple[str, ...]:
        """The catalogue metrics this model emits."""

    def step(self, t_ms: int, dt_s: float) -> Flows:
        """Advance by `dt_s` ending at `t_ms`; return what flowed and remember it in `last`."""

    def gauges(self) -> Gauges:
        """Gauges and states as they are now."""

    def inventory_t(self) -> float:
        """Mass inside the process (fed but not yet out), for the mass balance."""

    def force_fault(self, duration_s: float) -> None:
        """Break down now for `duration_s` (a scheduled equipment fault)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_fractions(fractions: tuple[float, ...]) -> tuple[float, ...]:
    """Mass fractions must be non-negative and add up to one, or mass is not conserved."""
    if min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions {fractions} must be >= 0 and add up to 1")
    return fractions


class ShiftParams(Strict):
    """When the equipment is staffed, in local hours; start == end means around the clock."""

    shift_start_h: float = Field(6.0, ge=0, le=24, description="Local hour the shift starts.")
    shift_end_h: float = Field(22.0, ge=0, le=24, description="Local hour the shift ends.")


@dataclass(frozen=True, slots=True)
class Shift:
    start_h: float
    end_h: float
    utc_offset_h: float

    def staffed(self, t_ms: int) -> bool:
        if self.start_h == self.end_h:
            return True
        hour = ((t_ms / 1000 / HOUR_S) + self.utc_offset_h) % 24
        if self.start_h < self.end_h:
            return self.start_h <= hour < self.end_h
        return hour >= self.start_h or hour < self.end_h


class BreakdownParams(Strict):
    mtbf_h: float = Field(40.0, ge=0, description="Mean operating hours between failures; 0 never.")
    mttr_h: float = Field(1.5, gt=0, description="Mean hours to repair.")


class Breakdowns:
    """Random failures while exposed, repaired after an exponentially distributed time."""

    def __init__(self, rng: random.Random, params: BreakdownParams, notes: Notes) -> None:
        self._rng = rng
        self._params = params
        self._notes = notes
        self.remaining_s = 0.0

    @property
    def broken(self) -> bool:
        return self.remaining_s > 0

    def step(self, dt_s: float, exposed: bool) -> None:
        if self.broken:
            self.remaining_s -= dt_s
            if not self.broken:
                self._notes.add("repair", "repaired, back in service")
        elif exposed and happens(self._rng, dt_s, self._params.mtbf_h * HOUR_S):
            self.force(self._rng.expovariate(1 / (self._params.mttr_h * HOUR_S)), "random")

    def force(self, duration_s: float, cause: str) -> None:
        if not self.broken:
            self._notes.add("fault", f"{cause} failure, repair takes {duration_s / 60:.0f} min")
        self.remaining_s = max(self.remaining_s, duration_s)


class DutyParams(ShiftParams, BreakdownParams):
    mean_run_min: float = Field(90.0, gt=0, description="Mean minutes running between idle gaps.")
    mean_idle_min: float = Field(8.0, gt=0, description="Mean minutes of an idle gap (no feed).")
    mean_between_blocks_h: float = Field(6.0, ge=0, description="Mean running hours between "
                                         "blockages; 0 never.")
    mean_block_min: float = Field(12.0, gt=0, description="Mean minutes to clear a blockage.")


class DutyCycle:
    """Running / idle / blocked / fault / off of a staffed line (crusher, dismantling line)."""

    def __init__(self, rng: random.Random, params: DutyParams, shift: Shift, notes: Notes) -> None:
        self._rng = rng
        self._params = params
        self._shift = shift
        self._notes = notes
        self.breakdowns = Breakdowns(rng, params, notes)
        self.state = "off"

    def step(self, t_ms: int, dt_s: float) -> str:
        self.breakdowns.step(dt_s, self.state == "running")
        if self.breakdowns.broken:
            self.state = "fault"
        elif not self._shift.staffed(t_ms):
            self.state = "off"
        else:
            self.state = self._next(dt_s)
        return self.state

    def _next(self, dt_s: float) -> str:
        p, rng = self._params, self._rng
        if self.state in ("off", "fault"):
            return "running"
        if self.state == "idle":
            return "running" if happens(rng, dt_s, p.mean_idle_min * 60) else "idle"
        if self.state == "blocked":
            if happens(rng, dt_s, p.mean_block_min * 60):
                return "running"
            return "blocked"
        if happens(rng, dt_s, p.mean_between_blocks_h * HOUR_S):
            self._notes.add("alarm", "blocked: material jam, feed stopped")
            return "blocked"
        return "idle" if happens(rng, dt_s, p.mean_run_min * 60) else "running"
