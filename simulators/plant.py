"""A plant: every device of a scenario advanced together in fixed steps of simulated time.

Deterministic: the same scenario, seed and fault schedule give the same readings, however
`advance_to` is called, because the plant only ever advances in whole steps.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from contract import CATALOGUE, DeviceId, EquipmentType, MetricKind
from simulators.counters import RESOLUTION_BY_UNIT, RegisterConfig
from simulators.device import SimDevice
from simulators.faults import LINK_KINDS, Fault, FaultLog, FaultSchedule, LinkFaults
from simulators.models.base import Model, Shift, ShiftParams
from simulators.models.crusher import Crusher, CrusherParams
from simulators.models.dismantling import RECIPES as LINE_RECIPES
from simulators.models.dismantling import DismantlingLine, LineParams
from simulators.models.furnace import RECIPES as FURNACE_RECIPES
from simulators.models.furnace import Furnace, FurnaceParams
from simulators.models.meters import Meter, MeterParams
from simulators.noise import device_rng
from simulators.scenario import DeviceConfig, Scenario
from simulators.truth import GroundTruthRecorder
from simulators.units import parse_duration

METERS = frozenset({EquipmentType.ELECTRICITY_METER, EquipmentType.GAS_METER,
                    EquipmentType.BELT_SCALE})


class Plant:
    def __init__(
        self, scenario: Scenario, devices: list[SimDevice], faults: FaultSchedule, log: FaultLog
    ) -> None:
        self.scenario = scenario
        self.devices = devices
        self.fault_log = log
        self.faults = faults
        self.step_ms = scenario.step_ms
        self._t_ms = scenario.start_ms
        self._by_key = {device.key: device for device in devices}
        self._pending = [self._checked(fault) for fault in faults.device()]
        interval_ms = round(parse_duration(scenario.truth_interval) * 1000)
        self.truth = GroundTruthRecorder(scenario.start_ms, interval_ms)
        self._apply_due_faults()

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, seed: int = 0, faults: FaultSchedule | None = None
    ) -> Plant:
        """Build the plant; `faults` are added to the scenario's own schedule."""
        schedule = scenario.fault_schedule() + (faults or FaultSchedule())
        log = FaultLog()
        devices = _devices(scenario, seed, log)
        return cls(scenario, devices, schedule, log)

    @property
    def now_ms(self) -> int:
        return self._t_ms

    @property
    def site(self) -> str:
        return self.scenario.site

    def device(self, key: str) -> SimDevice:
        """A device by "line/device"."""
        return self._by_key[key]

    def inject(self, fault: Fault) -> None:
        """Schedule a device fault during a run (from a test); applied now if it is due."""
        self._pending = sorted([*self._pending, self._checked(fault)], key=lambda f: f.at_ms)
        self._apply_due_faults()

    def _checked(self, fault: Fault) -> Fault:
        if fault.kind in LINK_KINDS:
            raise ValueError(f"{fault.kind} is a link fault: add it to the LinkFaults in use")
        if fault.device not in self._by_key:
            raise ValueError(f"fault {fault.kind} names unknown device {fault.device!r}")
        return fault

    def link_faults(self) -> LinkFaults:
        """A fresh applier of this plant's link faults that logs into the plant's fault log."""
        return LinkFaults(self.faults.link(), self.fault_log)

    def advance_to(self, t_ms: int, on_step: Callable[[Plant], None] | None = None) -> None:
        """Integrate up to the last whole step at or before `t_ms`."""
        dt_s = self.step_ms / 1000
        while self._t_ms + self.step_ms <= t_ms:
            self._t_ms += self.step_ms
            for device in self.devices:
                device.step(self._t_ms, dt_s)
            self._apply_due_faults()
            self.truth.observe(self._t_ms, self.devices)
            if on_step is not None:
                on_step(self)

    def _apply_due_faults(self) -> None:
        while self._pending and self._pending[0].at_ms <= self._t_ms:
            fault: Fault = self._pending.pop(0)
            self._by_key[fault.device or ""].apply(fault)


def _devices(scenario: Scenario, seed: int, log: FaultLog) -> list[SimDevice]:
    models: dict[str, Model] = {}
    devices: list[SimDevice] = []
    configs = [(line.id, device) for line in scenario.lines for device in line.devices]
    # Equipment first, so that meters can measure it within the same step.
    for line, config in sorted(configs, key=lambda lc: lc[1].type in METERS):
        key = f"{line}/{config.id}"
        models[key] = _model(scenario, line, config, device_rng(seed, key), models)
        devices.append(SimDevice(
            DeviceId(scenario.site, line, config.id), models[key],
            period_s=config.period_s, start_ms=scenario.start_ms, log=log,
            registers=_registers(config),
            measures=tuple(_source_key(line, source) for source in config.measures)))
    return devices


def _model(
    scenario: Scenario, line: str, config: DeviceConfig, rng: random.Random,
    built: dict[str, Model],
) -> Model:
    def shift(params: ShiftParams) -> Shift:
        return Shift(params.shift_start_h, params.shift_end_h, scenario.utc_offset_h)

    if config.type is EquipmentType.CRUSHER_STATION:
        crusher = CrusherParams.model_validate(config.params)
        return Crusher(rng, crusher, shift(crusher))
    if config.type in FURNACE_RECIPES:
        recipe = FURNACE_RECIPES[config.type].model_dump()
        return Furnace(config.type, rng, FurnaceParams.model_validate(recipe | config.params))
    if config.type in LINE_RECIPES:
        recipe = LINE_RECIPES[config.type].model_dump()
        params = LineParams.model_validate(recipe | config.params)
        return DismantlingLine(config.type, rng, params, shift(params))
    sources = [_source(built, _source_key(line, name), config) for name in config.measures]
    return Meter(config.type, rng, MeterParams.model_validate(config.params), sources)


def _source(built: dict[str, Model], key: str, meter: DeviceConfig) -> Model:
    source = built.get(key)
    if source is None or source.type in METERS:
        raise ValueError(f"meter {meter.id!r} measures {key!r}, which is not equipment here")
    return source


def _source_key(line: str, name: str) -> str:
    return name if "/" in name else f"{line}/{name}"


def _registers(config: DeviceConfig) -> dict[str, RegisterConfig]:
    configs = {}
    for metric, spec in config.registers.items():
        known = CATALOGUE[config.type].by_name.get(metric)
        if known is None or known.kind is not MetricKind.COUNTER:
            raise ValueError(f"{config.id}: {metric!r} is not a counter of {config.type}")
        resolution = spec.resolution or RESOLUTION_BY_UNIT[known.unit]
        configs[metric] = RegisterConfig(spec.initial, resolution, spec.rollover_at)
    return configs
