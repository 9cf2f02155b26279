"""A simulated device: a model behind registers and sensors that can be made to misbehave.

`read()` is what the device's registers and gauges show now, faults included; `totals` is the
truth (what really flowed), which no display fault, reset, rollover or replacement touches.
"""

from __future__ import annotations

from collections import deque
from typing import cast

from contract import CATALOGUE, DeviceId, EquipmentType, EventMessage, MetricKind, MetricSpec
from contract.messages import EventName
from simulators.counters import RESOLUTION_BY_UNIT, Register, RegisterConfig
from simulators.faults import Fault, FaultKind, FaultLog
from simulators.models.base import Model
from simulators.truth import column_of, empty_totals

Reading = dict[str, float | str]
MAX_EVENTS = 1000


class SimDevice:
    def __init__(
        self,
        id: DeviceId,
        model: Model,
        *,
        period_s: float,
        start_ms: int,
        log: FaultLog,
        registers: dict[str, RegisterConfig] | None = None,
        measures: tuple[str, ...] = (),
    ) -> None:
        spec = CATALOGUE[model.type]
        self.id = id
        self.type: EquipmentType = model.type
        self.model = model
        self.measures = measures
        self.metrics: tuple[MetricSpec, ...] = tuple(spec.by_name[n] for n in model.metric_names())
        self.period_s = {metric.name: period_s for metric in self.metrics}
        self._specs = {metric.name: metric for metric in self.metrics}
        configs = registers or {}
        counters = {m.name for m in self.metrics if m.kind is MetricKind.COUNTER}
        unknown = sorted(set(configs) - counters)
        if unknown:
            raise ValueError(f"{id.line}/{id.device} has no counter {unknown}; "
                             f"its counters are {sorted(counters)}")
        self.registers = {
            m.name: Register(configs.get(m.name) or RegisterConfig(
                resolution=RESOLUTION_BY_UNIT[m.unit]))
            for m in self.metrics if m.kind is MetricKind.COUNTER}
        self.totals = empty_totals()
        self._log = log
        self._t_ms = start_ms
        self._events: deque[EventMessage] = deque(maxlen=MAX_EVENTS)
        self._display: dict[Fault, float | str] = {}
        self._skew_ms = 0.0
        self._drift_ppm = 0.0
        self._drift_since_ms = start_ms

    @property
    def key(self) -> str:
        """"line/device", as faults and the fault log name devices."""
        return f"{self.id.line}/{self.id.device}"

    @property
    def meta(self) -> dict[str, str]:
        """What its birth says of the equipment behind it."""
        return {"vendor": "loopmeter", "model": f"sim-{self.type.value}"}

    def step(self, t_ms: int, dt_s: float) -> None:
        flows = self.model.step(t_ms, dt_s)
        self._t_ms = t_ms
        for name, amount in flows.items():
            self.totals[column_of(self.type, name)] += amount
            register = self.registers.get(name)
            if register is not None and register.add(amount):
                self._rolled_over(name, register)
        for event, detail in self.model.notes.drain():
            self._event(cast(EventName, event), detail)

    def read(self) -> Reading:
        values: Reading = {name: self._saturated(name, value)
                           for name, value in self.model.gauges().items()}
        values.update({name: register.shown() for name, register in self.registers.items()})
        for fault, value in self._display.items():
            if fault.active(self._t_ms) and fault.metric is not None:
                values[fault.metric] = value
        return values

    def _saturated(self, name: str, value: float | str) -> float | str:
        """Gauges saturate at the catalogue's range, as a transmitter does at its span."""
        if isinstance(value, str):
            return value
        spec = self._specs[name]
        return min(spec.maximum, max(spec.minimum, value))

    def now_ms(self) -> int:
        """The device's own clock, skew and drift included."""
        return self._t_ms + round(self._clock_offset_ms())

    def drain_events(self) -> list[EventMessage]:
        """Events since the last call: faults, repairs, counter resets, rollovers, replacements."""
        events = list(self._events)
        self._events.clear()
        return events

    def apply(self, fault: Fault) -> None:
        """Inject a device fault now (the plant calls this at the fault's time)."""
        handlers = {
            FaultKind.CLOCK_SKEW: self._skew, FaultKind.CLOCK_DRIFT: self._drift,
            FaultKind.COUNTER_RESET: self._restart, FaultKind.METER_REPLACED: self._restart,
            FaultKind.STUCK: self._freeze, FaultKind.SPIKE: self._freeze,
            FaultKind.EQUIPMENT_FAULT: self._break,
        }
        detail = handlers[fault.kind](fault)
        self._log.add(self._t_ms, fault.kind, self.key, detail)

    def _clock_offset_ms(self) -> float:
        return self._skew_ms + self._drift_ppm * 1e-6 * (self._t_ms - self._drift_since_ms)

    def _skew(self, fault: Fault) -> str:
        self._skew_ms = fault.param("offset_ms", 0.0)
        self._event("clock_adjusted", f"clock set {self._skew_ms:+.0f} ms off")
        return f"offset {self._skew_ms:+.0f} ms"

    def _drift(self, fault: Fault) -> str:
        self._skew_ms = self._clock_offset_ms()
        self._drift_since_ms = self._t_ms
        self._drift_ppm = fault.param("ppm", 0.0)
        return f"drift {self._drift_ppm:+.0f} ppm"

    def _restart(self, fault: Fault) -> str:
        metric = self._counter(fault)
        initial = fault.param("initial", 0.0) if fault.kind is FaultKind.METER_REPLACED else 0.0
        old = self.registers[metric].restart(initial)
        if fault.kind is FaultKind.METER_REPLACED:
            self._event("meter_replaced", "new meter installed", metric,
                        {"old_final": old, "new_initial": initial})
        else:
            self._event("counter_reset", "register reset to zero", metric, {"old_final": old})
        return f"{metric}: {old:g} -> {initial:g}"

    def _freeze(self, fault: Fault) -> str:
        metric = fault.metric or ""
        spec = self._specs.get(metric)
        if spec is None or (fault.kind is FaultKind.SPIKE and spec.kind is not MetricKind.GAUGE):
            raise ValueError(f"{self.key}: {fault.kind} needs a metric it emits "
                             f"(a gauge for spikes), got {metric!r}")
        value = self.read()[metric]
        if fault.kind is FaultKind.SPIKE and isinstance(value, float | int):
            value = min(spec.maximum, max(value, 1.0) * fault.param("factor", 10.0))
        self._display[fault] = value
        return f"{metric} shows {value!r}"

    def _break(self, fault: Fault) -> str:
        duration_s = ((fault.until_ms or fault.at_ms) - fault.at_ms) / 1000
        self.model.force_fault(duration_s)
        return f"down for {duration_s / 60:.0f} min"

    def _counter(self, fault: Fault) -> str:
        if fault.metric not in self.registers:
            raise ValueError(f"{self.key}: {fault.kind} needs a counter it emits, "
                             f"got {fault.metric!r}")
        return fault.metric

    def _rolled_over(self, metric: str, register: Register) -> None:
        limit = register.config.rollover_at
        self._event("counter_rollover", f"register passed {limit:g}", metric,
                    {"rollover_at": limit})
        self._log.add(self._t_ms, FaultKind.COUNTER_ROLLOVER, self.key, f"{metric} at {limit:g}")

    def _event(
        self, event: EventName, detail: str, metric: str | None = None,
        values: dict[str, float] | None = None,
    ) -> None:
        self._events.append(EventMessage(ts=self.now_ms(), event=event, metric=metric,
                                         detail=detail, values=values or {}))
