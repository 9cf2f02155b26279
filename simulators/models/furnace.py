"""Batch smelting furnaces: secondary aluminium remelting and secondary lead smelting.

Both run the same cycle — charge, melt, hold, tap, short idle — around the clock; they differ
in their recipe: burner flows, auxiliary power, temperatures, yields and, for lead, coke
charged as reductant. Mass is booked where it really moves: feed while charging, the
oxidation and fume loss at the end of melting, dross or slag skimmed at the end of holding,
metal while tapping; what is in between is the furnace's inventory.
"""

from __future__ import annotations

import random

from pydantic import Field

from contract import CATALOGUE, EquipmentType
from simulators.models.base import (
    AMBIENT_C,
    HOUR_S,
    LOSS,
    BreakdownParams,
    Breakdowns,
    Flows,
    Gauges,
    Notes,
    Strict,
)
from simulators.noise import Wander, approach

CYCLE = ("charging", "melting", "holding", "tapping", "idle")
_FAULT_TAU_S = 20 * HOUR_S
_LIMITS_C = (-20.0, 1400.0)


class Phase(Strict):
    minutes: float = Field(gt=0, description="Duration of the phase.")
    gas_nm3h: float = Field(ge=0, description="Natural gas flow to the burners.")
    extra_kw: float = Field(0.0, ge=0, description="Electric load on top of the auxiliaries.")
    target_c: float = Field(description="Melt temperature the phase drives towards.")
    tau_min: float = Field(gt=0, description="Time constant of the melt temperature.")


class FurnaceParams(BreakdownParams):
    charge_t: float = Field(gt=0, description="Mass charged per batch.")
    aux_kw: float = Field(ge=0, description="Fans, filters and pumps, always on unless failed.")
    metal_yield: float = Field(gt=0, lt=1, description="Mean metal tapped per tonne charged.")
    residue_fraction: float = Field(ge=0, lt=1, description="Mean dross or slag per tonne charged.")
    batch_sd: float = Field(0.01, ge=0, description="Batch-to-batch spread of both fractions.")
    coke_kg_per_t: float = Field(0.0, ge=0, description="Coke charged as reductant per tonne.")
    start_c: float = Field(700.0, description="Melt temperature at the start of the run.")
    start_idle_min: float = Field(0.0, ge=0, description="Idle minutes before the first charge, "
                                  "so that furnaces of one shop do not run in step.")
    phases: dict[str, Phase]


ALUMINIUM = FurnaceParams(
    charge_t=12.0, aux_kw=300.0, metal_yield=0.95, residue_fraction=0.035, start_c=720.0,
    phases={
        "charging": Phase(minutes=40, gas_nm3h=80, target_c=680, tau_min=40),
        "melting": Phase(minutes=180, gas_nm3h=420, extra_kw=150, target_c=760, tau_min=60),
        "holding": Phase(minutes=60, gas_nm3h=120, extra_kw=60, target_c=740, tau_min=30),
        "tapping": Phase(minutes=30, gas_nm3h=60, extra_kw=50, target_c=725, tau_min=30),
        "idle": Phase(minutes=15, gas_nm3h=40, target_c=700, tau_min=300),
    })
LEAD = FurnaceParams(
    charge_t=10.0, aux_kw=180.0, metal_yield=0.65, residue_fraction=0.22, batch_sd=0.015,
    coke_kg_per_t=55.0, start_c=950.0,
    phases={
        "charging": Phase(minutes=45, gas_nm3h=60, extra_kw=20, target_c=900, tau_min=40),
        "melting": Phase(minutes=270, gas_nm3h=180, extra_kw=60, target_c=1150, tau_min=60),
        "holding": Phase(minutes=30, gas_nm3h=100, extra_kw=60, target_c=1100, tau_min=30),
        "tapping": Phase(minutes=30, gas_nm3h=60, extra_kw=20, target_c=1050, tau_min=30),
        "idle": Phase(minutes=20, gas_nm3h=30, target_c=950, tau_min=300),
    })
RECIPES = {EquipmentType.SMELTER_ALUMINIUM: ALUMINIUM, EquipmentType.SMELTER_LEAD: LEAD}
RESIDUE = {EquipmentType.SMELTER_ALUMINIUM: "out_dross_t", EquipmentType.SMELTER_LEAD: "out_slag_t"}


class Furnace:
    def __init__(self, type_: EquipmentType, rng: random.Random, params: FurnaceParams) -> None:
        missing = set(CYCLE) - set(params.phases)
        if missing:
            raise ValueError(f"furnace phases missing: {sorted(missing)}")
        self.type = type_
        self._rng = rng
        self._p = params
        self.notes = Notes()
        self.last: Flows = {}
        self._breakdowns = Breakdowns(rng, params, self.notes)
        self._gas_noise = Wander(rng, 0.03, 300)
        self._power_noise = Wander(rng, 0.02, 60)
        self._phase = "charging"
        self._elapsed_s = 0.0
        if params.start_idle_min:
            self._phase = "idle"
            self._elapsed_s = (params.phases["idle"].minutes - params.start_idle_min) * 60
        self._temp_c = params.start_c
        self._gas_nm3h = 0.0
        self._power_kw = 0.0
        self._inventory_t = 0.0
        self._batch = self._new_batch()
        self._to_move = 0.0 if params.start_idle_min else params.charge_t

    def metric_names(self) -> tuple[str, ...]:
        return tuple(metric.name for metric in CATALOGUE[self.type].metrics)

    def step(self, t_ms: int, dt_s: float) -> Flows:
        self._breakdowns.step(dt_s, self._phase != "idle")
        phase = self._p.phases[self._phase]
        if self._breakdowns.broken:
            self._gas_nm3h, power = 0.0, 0.3 * self._p.aux_kw
            self._temp_c = approach(self._temp_c, AMBIENT_C, dt_s, _FAULT_TAU_S)
            flows: Flows = {}
        else:
            self._gas_nm3h = phase.gas_nm3h * (1 + self._gas_noise.step(dt_s))
            power = self._p.aux_kw + phase.extra_kw
            self._temp_c = approach(self._temp_c, phase.target_c, dt_s, phase.tau_min * 60)
            flows = self._advance_phase(phase, dt_s)
        self._power_kw = power * (1 + self._power_noise.step(dt_s))
        flows["energy_kwh"] = self._power_kw * dt_s / HOUR_S
        flows["gas_nm3"] = self._gas_nm3h * dt_s / HOUR_S
        self._inventory_t += flows.get("input_t", 0.0) - sum(
            amount for name, amount in flows.items() if name.startswith("out_") or name == LOSS)
        self.last = flows
        return flows

    def _advance_phase(self, phase: Phase, dt_s: float) -> Flows:
        self._elapsed_s += dt_s
        done = self._elapsed_s >= phase.minutes * 60
        rate = self._rate_t_per_s(phase)
        moved = self._to_move if done else min(self._to_move, rate * dt_s)
        self._to_move -= moved
        flows = self._book_moving(moved)
        if done:
            flows.update(self._finish_phase())
        return flows

    def _rate_t_per_s(self, phase: Phase) -> float:
        if self._phase == "charging":
            return self._p.charge_t / (phase.minutes * 60)
        if self._phase == "tapping":
            return self._batch[0] / (phase.minutes * 60)
        return 0.0

    def _book_moving(self, tonnes: float) -> Flows:
        if self._phase == "charging":
            return {"input_t": tonnes, **self._coke(tonnes)}
        if self._phase == "tapping":
            return {"out_metal_t": tonnes}
        return {}

    def _coke(self, tonnes: float) -> Flows:
        return {"coke_kg": tonnes * self._p.coke_kg_per_t} if self._p.coke_kg_per_t else {}

    def _finish_phase(self) -> Flows:
        metal, residue = self._batch
        booked: Flows = {}
        if self._phase == "melting":
            booked[LOSS] = self._p.charge_t - metal - residue
        elif self._phase == "holding":
            booked[RESIDUE[self.type]] = residue
        self._phase = CYCLE[(CYCLE.index(self._phase) + 1) % len(CYCLE)]
        self._elapsed_s = 0.0
        if self._phase == "charging":
            self._batch = self._new_batch()
        self._to_move = {"charging": self._p.charge_t, "tapping": metal}.get(self._phase, 0.0)
        return booked

    def _new_batch(self) -> tuple[float, float]:
        """Metal and residue of the next batch, in tonnes; the rest of the charge is lost."""
        p = self._p
        metal = min(0.99, max(0.0, self._rng.gauss(p.metal_yield, p.batch_sd)))
        residue = min(1.0 - metal, max(0.0, self._rng.gauss(p.residue_fraction, p.batch_sd / 2)))
        return metal * p.charge_t, residue * p.charge_t

    def gauges(self) -> Gauges:
        state = "fault" if self._breakdowns.broken else self._phase
        temp = min(_LIMITS_C[1], max(_LIMITS_C[0], self._temp_c))
        return {"state": state, "power_kw": round(self._power_kw, 2),
                "gas_flow_nm3h": round(self._gas_nm3h, 2), "melt_temp_c": round(temp, 1)}

    def inventory_t(self) -> float:
        return self._inventory_t

    def force_fault(self, duration_s: float) -> None:
        self._breakdowns.force(duration_s, "scheduled")
