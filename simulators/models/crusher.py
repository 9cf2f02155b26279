"""Construction-waste crushing and screening station: jaw and impact crushers, vibrating
screens and conveyors; fixed on grid power or mobile on a diesel generator set.

Power = idle load + specific energy x feed rate + noise; the product is split by the screens
into recycled aggregate classes, the residue (wood, plastics, metals, fines) and a small loss
(dust, moisture).
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
from simulators.noise import Wander, happens

PRODUCTS = ("out_aggregate_coarse_t", "out_aggregate_medium_t", "out_aggregate_fine_t",
            "out_residue_t")


class Material(Strict):
    """How one feed material behaves in the station."""

    feed_factor: float = Field(gt=0, description="Feed rate relative to the rated capacity.")
    kwh_per_t: float = Field(gt=0, description="Specific energy of crushing and screening.")
    share: float = Field(ge=0, description="Relative share of operating time on this material.")
    split: tuple[float, float, float, float, float] = Field(
        description="Mass fractions: coarse, medium, fine aggregate, residue, loss; sum 1.")

    @field_validator("split")
    @classmethod
    def _sums_to_one(cls, split: tuple[float, ...]) -> tuple[float, ...]:
        return check_fractions(split)


MATERIALS = {
    "concrete": Material(feed_factor=1.0, kwh_per_t=2.4, share=0.5,
                         split=(0.38, 0.30, 0.25, 0.06, 0.01)),
    "brick": Material(feed_factor=1.15, kwh_per_t=1.7, share=0.3,
                      split=(0.30, 0.30, 0.32, 0.07, 0.01)),
    "mixed": Material(feed_factor=0.85, kwh_per_t=2.0, share=0.2,
                      split=(0.28, 0.27, 0.28, 0.15, 0.02)),
}


class CrusherParams(DutyParams):
    capacity_tph: float = Field(200.0, gt=0, le=800, description="Rated feed rate.")
    idle_kw: float = Field(110.0, ge=0, description="Crushers, screens and belts running empty.")
    mobile: bool = Field(False, description="Mobile station powered by a diesel generator set.")
    diesel_kg_per_kwh: float = Field(0.23, gt=0, description="Generator set fuel use.")
    mean_material_h: float = Field(3.0, gt=0, description="Mean hours between material changes.")
    materials: dict[str, Material] = Field(default_factory=lambda: dict(MATERIALS))


class Crusher:
    type = EquipmentType.CRUSHER_STATION

    def __init__(self, rng: random.Random, params: CrusherParams, shift: Shift) -> None:
        self._rng = rng
        self._p = params
        self.notes = Notes()
        self.last: Flows = {}
        self._duty = DutyCycle(rng, params, shift, self.notes)
        self._feed_noise = Wander(rng, 0.08, 600)
        self._power_noise = Wander(rng, 0.02, 60)
        self._material = self._pick_material()
        self._feed_tph = 0.0
        self._power_kw = 0.0

    def metric_names(self) -> tuple[str, ...]:
        energy = "diesel_kg" if self._p.mobile else "energy_kwh"
        return ("state", "material", "power_kw", energy, "input_t", "feed_rate_tph", *PRODUCTS)

    def step(self, t_ms: int, dt_s: float) -> Flows:
        state = self._duty.step(t_ms, dt_s)
        if happens(self._rng, dt_s, self._p.mean_material_h * HOUR_S):
            self._material = self._pick_material()
        feed_noise = self._feed_noise.step(dt_s)
        material = self._p.materials[self._material]
        nominal = self._p.capacity_tph * material.feed_factor
        self._feed_tph = max(0.0, nominal * (1 + feed_noise)) if state == "running" else 0.0
        self._power_kw = self._power(state, material) * (1 + self._power_noise.step(dt_s))
        self.last = self._flows(material, dt_s)
        return self.last

    def _power(self, state: str, material: Material) -> float:
        idle = self._p.idle_kw
        by_state = {"running": idle + material.kwh_per_t * self._feed_tph, "idle": idle,
                    "blocked": 0.8 * idle, "fault": 0.05 * idle, "off": 0.0}
        return by_state[state]

    def _flows(self, material: Material, dt_s: float) -> Flows:
        tonnes = self._feed_tph * dt_s / HOUR_S
        kwh = self._power_kw * dt_s / HOUR_S
        flows = {"input_t": tonnes, LOSS: tonnes * material.split[4]}
        flows.update({name: tonnes * share
                      for name, share in zip(PRODUCTS, material.split[:4], strict=True)})
        if self._p.mobile:
            flows["diesel_kg"] = kwh * self._p.diesel_kg_per_kwh
        else:
            flows["energy_kwh"] = kwh
        return flows

    def gauges(self) -> Gauges:
        return {"state": self._duty.state, "material": self._material,
                "power_kw": round(self._power_kw, 2), "feed_rate_tph": round(self._feed_tph, 2)}

    def inventory_t(self) -> float:
        return 0.0

    def force_fault(self, duration_s: float) -> None:
        self._duty.breakdowns.force(duration_s, "scheduled")

    def _pick_material(self) -> str:
        names = sorted(self._p.materials)
        weights = [self._p.materials[name].share for name in names]
        return self._rng.choices(names, weights)[0]
