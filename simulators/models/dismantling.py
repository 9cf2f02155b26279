"""Dismantling lines for EV batteries and waste appliances.

Units arrive by category (each with its own rate and typical mass); every unit dismantled is
routed at once to the output fractions. Power = idle load + specific energy x mass rate.
"""

from __future__ import annotations

import random

from pydantic import Field, field_validator

from contract import EquipmentType
from simulators.models.base import (
    HOUR_S,
    LOSS,
    DutyCycle,
    DutyParams,
    Flows,
    Gauges,
    Notes,
    Shift,
    Strict,
    check_fractions,
)
from simulators.noise import Wander


class Category(Strict):
    units_per_hour: float = Field(gt=0, description="Units of this category per running hour.")
    mass_kg: float = Field(gt=0, description="Typical mass of one unit.")


class LineParams(DutyParams):
    categories: dict[str, Category] = Field(min_length=1)
    fractions: dict[str, float] = Field(description="Output metric name (or loss_t) to share.")
    idle_kw: float = Field(ge=0, description="Conveyors, extraction and lighting.")
    kwh_per_t: float = Field(gt=0, description="Specific energy of shredding and separation.")

    @field_validator("fractions")
    @classmethod
    def _sums_to_one(cls, fractions: dict[str, float]) -> dict[str, float]:
        check_fractions(tuple(fractions.values()))
        return fractions


BATTERY = LineParams(
    categories={"ev_pack": Category(units_per_hour=4, mass_kg=420),
                "hev_pack": Category(units_per_hour=3, mass_kg=45),
                "module": Category(units_per_hour=12, mass_kg=22)},
    fractions={"out_black_mass_t": 0.37, "out_copper_t": 0.09, "out_aluminium_t": 0.14,
               "out_steel_t": 0.20, "out_plastics_t": 0.16, LOSS: 0.04},
    idle_kw=60.0, kwh_per_t=120.0)
APPLIANCE = LineParams(
    categories={"refrigerator": Category(units_per_hour=25, mass_kg=50),
                "washing_machine": Category(units_per_hour=20, mass_kg=65),
                "air_conditioner": Category(units_per_hour=15, mass_kg=45),
                "television": Category(units_per_hour=40, mass_kg=18)},
    fractions={"out_steel_t": 0.45, "out_plastics_t": 0.28, "out_copper_t": 0.05,
               "out_aluminium_t": 0.04, "out_residue_t": 0.15, LOSS: 0.03},
    idle_kw=40.0, kwh_per_t=60.0)
RECIPES = {EquipmentType.DISMANTLING_BATTERY: BATTERY,
           EquipmentType.DISMANTLING_APPLIANCE: APPLIANCE}


class DismantlingLine:
    def __init__(
        self, type_: EquipmentType, rng: random.Random, params: LineParams, shift: Shift
    ) -> None:
        self.type = type_
        self._rng = rng
        self._p = params
        self.notes = Notes()
        self.last: Flows = {}
        self._duty = DutyCycle(rng, params, shift, self.notes)
        self._pace = Wander(rng, 0.1, 900)
        self._power_noise = Wander(rng, 0.02, 60)
        self._progress = dict.fromkeys(sorted(params.categories), 0.0)
        self._power_kw = 0.0

    def metric_names(self) -> tuple[str, ...]:
        outputs = tuple(name for name in self._p.fractions if name != LOSS)
        return ("state", "power_kw", "energy_kwh", "input_t", "units", *outputs)

    def step(self, t_ms: int, dt_s: float) -> Flows:
        running = self._duty.step(t_ms, dt_s) == "running"
        pace = max(0.0, 1 + self._pace.step(dt_s)) if running else 0.0
        units, tonnes = self._dismantle(pace, dt_s)
        rate_tph = pace * sum(c.units_per_hour * c.mass_kg for c in self._p.categories.values())
        power = self._p.idle_kw + self._p.kwh_per_t * rate_tph / 1000
        by_state = {"running": power, "idle": self._p.idle_kw, "blocked": self._p.idle_kw,
                    "fault": 0.2 * self._p.idle_kw, "off": 0.0}
        self._power_kw = by_state[self._duty.state] * (1 + self._power_noise.step(dt_s))
        flows = {name: tonnes * share for name, share in self._p.fractions.items()}
        flows.update(input_t=tonnes, units=float(units),
                     energy_kwh=self._power_kw * dt_s / HOUR_S)
        self.last = flows
        return flows

    def _dismantle(self, pace: float, dt_s: float) -> tuple[int, float]:
        units, kg = 0, 0.0
        for name, category in self._p.categories.items():
            self._progress[name] += pace * category.units_per_hour * dt_s / HOUR_S
            while self._progress[name] >= 1:
                self._progress[name] -= 1
                units += 1
                kg += category.mass_kg * min(1.5, max(0.5, self._rng.gauss(1.0, 0.1)))
        return units, kg / 1000

    def gauges(self) -> Gauges:
        return {"state": self._duty.state, "power_kw": round(self._power_kw, 2)}

    def inventory_t(self) -> float:
        return 0.0

    def force_fault(self, duration_s: float) -> None:
        self._duty.breakdowns.force(duration_s, "scheduled")
