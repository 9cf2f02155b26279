"""A small synthetic plant whose registers count at known constant rates.

One day in Asia/Shanghai, readings every minute from 10 minutes before the day to 10 minutes
after it. The same data serves the fake source (unit tests) and InfluxDB (integration tests),
so both compute the same figures.

    line L1: crusher-1 (crusher_station)  5 kWh, 2 t in, 1.5 t coarse, 0.5 t residue,
                                          0.2 kg diesel per minute; 300 kW
             meter-1 (electricity_meter)  5.5 kWh per minute (the crusher plus auxiliaries)
    line L2: furnace-1 (smelter_aluminium) 3 kWh, 2 Nm3 gas, 0.05 t in, 0.045 t metal,
                                          0.005 t dross per minute; 180 kW
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from carbon.activity import (
    Device,
    Register,
    SiteInputs,
    counter_metrics,
    slice_inputs,
)
from carbon.counters import CounterEvent, EventKind, Reading
from carbon.lifecycle import DeviceState, LifeEvent, StateReading
from carbon.periods import Period, parse_period
from contract.catalogue import CATALOGUE, EquipmentType, MetricKind
from contract.messages import AgentInfo, BirthMessage, MetricDeclaration
from contract.points import DEVICE_EVENT, LIFECYCLE, TELEMETRY, Point, declared_maxima

TZ = ZoneInfo("Asia/Shanghai")
DAY: Period = parse_period("2026-10-05", TZ)
MIN = 60_000
HORIZON = 86_400_000
CRUSHER = Device("L1", "crusher-1", EquipmentType.CRUSHER_STATION)
METER = Device("L1", "meter-1", EquipmentType.ELECTRICITY_METER)
FURNACE = Device("L2", "furnace-1", EquipmentType.SMELTER_ALUMINIUM)
RATES: Mapping[Device, Mapping[str, str]] = {
    CRUSHER: {"energy_kwh": "5", "input_t": "2", "out_aggregate_coarse_t": "1.5",
              "out_residue_t": "0.5", "diesel_kg": "0.2", "power_kw": "300"},
    METER: {"energy_kwh": "5.5", "power_kw": "330"},
    FURNACE: {"energy_kwh": "3", "gas_nm3": "2", "input_t": "0.05", "out_metal_t": "0.045",
              "out_dross_t": "0.005", "power_kw": "180"},
}
START = Decimal(1000)


@dataclass
class Plant:
    """Readings per (device, metric); tests cut, shift or reset them to make a case."""

    site: str
    readings: dict[tuple[Device, str], list[Reading]] = field(default_factory=dict)
    events: list[tuple[Device, str, CounterEvent]] = field(default_factory=list)
    lifecycle: list[tuple[Device, LifeEvent]] = field(default_factory=list)
    states: dict[Device, list[StateReading]] = field(default_factory=dict)

    @classmethod
    def day(cls, site: str) -> Plant:
        plant = cls(site)
        minutes = range(-10, 24 * 60 + 11)
        for device, rates in RATES.items():
            for metric, rate in rates.items():
                gauge = metric == "power_kw"
                plant.readings[device, metric] = [
                    Reading(DAY.start_ms + m * MIN,
                            Decimal(rate) if gauge else START + Decimal(rate) * (m + 10))
                    for m in minutes]
        return plant

    def drop(self, device: Device, start_ms: int, end_ms: int) -> None:
        """Lose every reading of `device` in [start_ms, end_ms)."""
        for (d, metric), values in self.readings.items():
            if d == device:
                self.readings[d, metric] = [r for r in values if not start_ms <= r.ts < end_ms]

    def reset(self, device: Device, metric: str, at_ms: int) -> None:
        """A declared reset to zero at `at_ms` (a reading time), final value known."""
        values = self.readings[device, metric]
        final = next(r.value for r in values if r.ts == at_ms)
        self.readings[device, metric] = [
            r if r.ts < at_ms else Reading(r.ts, r.value - final) for r in values]
        self.events.append((device, metric, CounterEvent(at_ms, EventKind.RESET, final,
                                                         Decimal(0))))

    def roll_over(self, device: Device, metric: str, size: Decimal) -> None:
        """The register has `size` values: it rolls over where it reaches it (declared)."""
        values = self.readings[device, metric]
        at_ms = next(r.ts for r in values if r.value >= size)
        self.readings[device, metric] = [r if r.ts < at_ms else Reading(r.ts, r.value - size)
                                         for r in values]
        self.events.append((device, metric, CounterEvent(at_ms, EventKind.ROLLOVER, size)))

    def birth(self, device: Device, ts: int, session: int = 1,
              maxima: Mapping[str, float] | None = None) -> None:
        """The device connects, declaring these gauge maxima (as the contract stores them)."""
        declared = declared_maxima(birth_message(device, ts, session, maxima or {}))
        self.lifecycle.append((device, LifeEvent(ts, True, session, tuple(sorted(
            (name.removeprefix("max_"), Decimal(str(value)))
            for name, value in declared.items())))))

    def death(self, device: Device, ts: int, session: int = 1) -> None:
        self.lifecycle.append((device, LifeEvent(ts, False, session)))

    def state(self, device: Device, ts: int, value: str) -> None:
        """The device reports its operating state (a reading time, or a time of its own)."""
        self.states.setdefault(device, []).append(StateReading(ts, value))
        self.states[device].sort()

    def inputs(self, start_ms: int, end_ms: int) -> SiteInputs:
        """What a TelemetryReader would read for [start_ms, end_ms)."""
        quantities = counter_metrics()
        registers = tuple(
            Register(d, m, quantities[d.type][m], tuple(v),
                     tuple(e for dd, mm, e in self.events if (dd, mm) == (d, m)))
            for (d, m), v in sorted(self.readings.items(), key=lambda x: (x[0][0], x[0][1]))
            if m in quantities[d.type])
        power = {d: tuple(v) for (d, m), v in sorted(self.readings.items(),
                                                     key=lambda x: (x[0][0], x[0][1]))
                 if m == "power_kw"}
        devices = {d.key: DeviceState(tuple(sorted(e for dd, e in self.lifecycle if dd == d)),
                                      tuple(self.states.get(d, ())))
                   for d in {*self.states, *(d for d, _ in self.lifecycle)}}
        everything = SiteInputs(self.site, start_ms, end_ms, registers, power, devices)
        return slice_inputs(everything, start_ms, end_ms, HORIZON)

    def points(self) -> list[Point]:
        """The same data as `telemetry` and `device_event` points."""
        rows: dict[tuple[Device, int], dict[str, float | int | str | bool]] = {}
        for (device, metric), values in self.readings.items():
            for reading in values:
                rows.setdefault((device, reading.ts), {})[metric] = float(reading.value)
        for device, states in self.states.items():
            for state in states:
                rows.setdefault((device, state.ts), {})["state"] = state.value
        telemetry = [Point(TELEMETRY, _tags(self.site, d, with_type=True), fields, ts)
                     for (d, ts), fields in sorted(rows.items(), key=lambda x: (x[0][0], x[0][1]))]
        return telemetry + [Point(DEVICE_EVENT, _tags(self.site, d, with_type=False),
                                  {"event": e.kind.value, "metric": m, "detail": "",
                                   **_event_values(e)}, e.ts) for d, m, e in self.events
                            ] + [_life_point(self.site, d, e) for d, e in self.lifecycle]


def birth_message(device: Device, ts: int, session: int,
                  maxima: Mapping[str, float]) -> BirthMessage:
    """A birth declaring every catalogue metric of the device, gauges with `maxima`."""
    metrics = [MetricDeclaration(name=m.name, unit=m.unit, kind=m.kind, period_s=60,
                                 maximum=maxima.get(m.name) if m.kind is MetricKind.GAUGE
                                 else None)
               for m in CATALOGUE[device.type].metrics]
    return BirthMessage(ts=ts, session=session, device_type=device.type, next_seq=0,
                        agent=AgentInfo(name="plant", version="1"), metrics=metrics)


def _life_point(site: str, device: Device, event: LifeEvent) -> Point:
    """As `contract.to_points` maps a birth (with its type and maxima) or a death."""
    if not event.born:
        return Point(LIFECYCLE, _tags(site, device, with_type=False),
                     {"event": "death", "session": event.session}, event.ts)
    maxima = declared_maxima(birth_message(device, event.ts, event.session,
                                           {g: float(m) for g, m in event.maxima}))
    return Point(LIFECYCLE, _tags(site, device, with_type=True),
                 {"event": "birth", "session": event.session, **maxima}, event.ts)


def _event_values(event: CounterEvent) -> dict[str, float | int | str | bool]:
    """As the simulators send them: `rollover_at` for rollovers, old/new values otherwise."""
    if event.kind is EventKind.ROLLOVER:
        return {"value_rollover_at": float(event.old_final or 0)}
    return {"value_old_final": float(event.old_final or 0),
            "value_new_initial": float(event.new_initial or 0)}


def _tags(site: str, device: Device, *, with_type: bool) -> tuple[tuple[str, str], ...]:
    tags = [("device", device.device), ("line", device.line), ("site", site)]
    return tuple(tags + ([("device_type", device.type.value)] if with_type else []))


class FakeSource:
    """A `Source` over a Plant, counting reads."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.reads = 0

    def read(self, site: str, start_ms: int, end_ms: int) -> SiteInputs:
        assert site == self.plant.site
        self.reads += 1
        return self.plant.inputs(start_ms, end_ms)

    def sites(self) -> list[str]:
        return [self.plant.site]


class FakeSink:
    def __init__(self) -> None:
        self.points: list[Point] = []

    def write(self, points: Iterable[Point], database: str | None = None) -> None:
        self.points.extend(points)
