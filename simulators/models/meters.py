"""Meters: electricity, natural gas and belt scales.

A meter measures the sum of what its sources (equipment on the same site) drew or carried in
each step, plus an optional base load of its own (offices, compressors, lighting), so the
register is exactly the integral of what the meter saw.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from pydantic import Field

from contract import EquipmentType
from simulators.models.base import HOUR_S, Flows, Gauges, Model, Notes, Strict
from simulators.noise import Wander


class MeterParams(Strict):
    base: float = Field(0.0, ge=0, description="Own base load: kW, Nm3/h or t/h.")
    source_metric: str = Field("input_t", description="Belt scales: the sources' mass counter "
                               "that passes over this belt.")
    voltage_v: float = Field(400.0, gt=0, description="Nominal line-to-line voltage.")
    power_factor: float = Field(0.9, gt=0, le=1, description="Mean power factor.")


# counter metric, gauge metric, what it reads from each source
_QUANTITIES = {
    EquipmentType.ELECTRICITY_METER: ("energy_kwh", "power_kw"),
    EquipmentType.GAS_METER: ("gas_nm3", "gas_flow_nm3h"),
    EquipmentType.BELT_SCALE: ("mass_t", "rate_tph"),
}


class Meter:
    def __init__(
        self, type_: EquipmentType, rng: random.Random, params: MeterParams,
        sources: Sequence[Model],
    ) -> None:
        self.type = type_
        self._p = params
        self._sources = tuple(sources)
        self.notes = Notes()
        self.last: Flows = {}
        self._counter, self._gauge = _QUANTITIES[type_]
        self._source_metric = params.source_metric if type_ is EquipmentType.BELT_SCALE \
            else self._counter
        self._base_noise = Wander(rng, 0.05, 600)
        self._voltage_noise = Wander(rng, 0.01, 300)
        self._pf_noise = Wander(rng, 0.02, 900)
        self._rate = 0.0
        self._electrical = (params.voltage_v, params.power_factor)

    def metric_names(self) -> tuple[str, ...]:
        extra = ("voltage_v", "current_a", "power_factor") \
            if self.type is EquipmentType.ELECTRICITY_METER else ()
        return (self._gauge, self._counter, *extra)

    def step(self, t_ms: int, dt_s: float) -> Flows:
        measured = sum(source.last.get(self._source_metric, 0.0) for source in self._sources)
        base = self._p.base * max(0.0, 1 + self._base_noise.step(dt_s)) * dt_s / HOUR_S
        amount = measured + base
        self._rate = amount / dt_s * HOUR_S
        voltage = self._p.voltage_v * (1 + self._voltage_noise.step(dt_s))
        power_factor = min(1.0, max(0.5, self._p.power_factor + self._pf_noise.step(dt_s)))
        self._electrical = (voltage, power_factor)
        self.last = {self._counter: amount}
        return self.last

    def gauges(self) -> Gauges:
        gauges: Gauges = {self._gauge: round(self._rate, 3)}
        if self.type is EquipmentType.ELECTRICITY_METER:
            voltage, power_factor = self._electrical
            current = self._rate * 1000 / (math.sqrt(3) * voltage * power_factor)
            gauges.update(voltage_v=round(voltage, 2), current_a=round(current, 2),
                          power_factor=round(power_factor, 3))
        return gauges

    def inventory_t(self) -> float:
        return 0.0

    def force_fault(self, duration_s: float) -> None:
        raise ValueError("meters do not break down in this simulation; use stuck or spike")
