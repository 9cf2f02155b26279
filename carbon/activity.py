"""Activity data per device for one period, from register readings. Pure.

Which metric feeds which quantity comes from the catalogue's roles. Registers of production
devices (equipment types with a domain) are primary and make the totals. Meters (electricity
and gas meters, belt scales: no domain) are *redundant*: they never add to a total, since a
line meter or a site substation measures the same flow again, and only fill the uncovered
time of the production devices on their own line (less what the line's other devices
measured in that time).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any, TypeVar

from carbon.counters import (
    ZERO,
    CounterEvent,
    Flag,
    IntervalResult,
    Limits,
    Reading,
    Segment,
    apportion,
    estimate,
    power_energy_kwh,
    power_mismatch,
    segments,
    substitute,
)
from carbon.lifecycle import UNKNOWN, DeviceState, LifeEvent, StateReading, lifecycle_window
from contract.catalogue import CATALOGUE, EquipmentType, MetricKind, Role, metric_spec

QUANTITY_OF_ROLE: Mapping[Role, str] = {
    Role.ELECTRICITY: "electricity_kwh", Role.NATURAL_GAS: "natural_gas_nm3",
    Role.DIESEL: "diesel_kg", Role.COKE_REDUCTANT: "coke_kg", Role.MASS_IN: "input_t",
    Role.MASS_THROUGH: "input_t", Role.MASS_PRODUCT: "output_t",
    Role.MASS_RESIDUE: "residue_t", Role.UNITS: "units",
}
QUANTITIES = tuple(dict.fromkeys(QUANTITY_OF_ROLE.values()))


def counter_metrics() -> dict[EquipmentType, dict[str, str]]:
    """Per equipment type, every counter that feeds a quantity: metric name -> quantity.

    Per type, because one name can play two roles: `out_plastics_t` is a product of appliance
    dismantling and the residue of battery dismantling.
    """
    return {spec.type: {m.name: QUANTITY_OF_ROLE[m.role] for m in spec.metrics
                        if m.kind is MetricKind.COUNTER and m.role in QUANTITY_OF_ROLE}
            for spec in CATALOGUE.values()}


def counter_names() -> tuple[str, ...]:
    """Every counter name that feeds a quantity for some equipment type, sorted."""
    return tuple(sorted({name for names in counter_metrics().values() for name in names}))


# The gauge that measures each register's rate, in the register's unit per hour: its
# catalogue maximum is the fastest the register can plausibly advance.
RATE_GAUGES: Mapping[str, str] = {"energy_kwh": "power_kw", "gas_nm3": "gas_flow_nm3h",
                                  "input_t": "feed_rate_tph", "mass_t": "rate_tph"}
_MS_PER_H = Decimal(3_600_000)


def limits_of(equipment: EquipmentType, metric: str,
              births: Sequence[LifeEvent] = ()) -> Limits:
    """The register's plausible maximum rate: from each of the device's births on, the
    tighter of the maximum it declared for the register's rate gauge and the catalogue's;
    before any, or where the birth declares none, the catalogue's. None at all (so no
    rollover is ever inferred) where neither bounds it."""
    catalogue, declared = _rate_schedule(equipment, metric, births)
    per_ms = [(ts, None if rate is None else rate / _MS_PER_H) for ts, _, rate in declared]
    return Limits(None if catalogue is None else catalogue / _MS_PER_H, tuple(per_ms))


def _rate_schedule(equipment: EquipmentType, metric: str, births: Sequence[LifeEvent]
                   ) -> tuple[Decimal | None, list[tuple[int, str, Decimal | None]]]:
    """The catalogue maximum per hour, and from each birth on the rate in force per hour
    with its source (`birth` when the declaration is the tighter or only bound)."""
    gauge = RATE_GAUGES.get(metric)
    spec = metric_spec(equipment, gauge) if gauge else None
    catalogue = Decimal(str(spec.maximum)) if spec is not None else None
    schedule: list[tuple[int, str, Decimal | None]] = []
    for birth in births:
        declared = birth.maximum(gauge) if gauge else None
        if declared is not None and (catalogue is None or declared <= catalogue):
            schedule.append((birth.ts, "birth", declared))
        else:
            schedule.append((birth.ts, "catalogue", catalogue))
    return catalogue, schedule


def limits_in_force(inputs: SiteInputs, bounds: tuple[int, int]) -> dict[str, Any]:
    """Per bounded register (`line/device/metric`), each maximum rate in force during
    `bounds` with its source (`catalogue` or `birth`), per hour: what a record keeps so
    that an auditor sees which bound judged its rollovers."""
    start, end = bounds
    found: dict[str, set[tuple[str, Decimal]]] = defaultdict(set)
    for register in inputs.registers:
        births = inputs.devices.get(register.device.key, UNKNOWN).births
        catalogue, schedule = _rate_schedule(register.device.type, register.metric, births)
        before = [(source, rate) for ts, source, rate in schedule if ts <= start]
        in_force = [before[-1] if before else ("catalogue", catalogue),
                    *((source, rate) for ts, source, rate in schedule if start < ts < end)]
        key = f"{register.device.line}/{register.device.device}/{register.metric}"
        found[key] |= {(source, rate) for source, rate in in_force if rate is not None}
    return {key: [{"source": source, "max_per_h": rate} for source, rate in sorted(used)]
            for key, used in sorted(found.items()) if used}


def register_increase(equipment: EquipmentType | None, metric: str,
                      readings: Sequence[Reading], max_gap_ms: int = 300_000,
                      births: Sequence[LifeEvent] = (),
                      bounds: tuple[int, int] | None = None) -> IntervalResult:
    """A register's increase by the engine's counter rules (rollover only when physical,
    reading errors skipped, restarts not counted): what anything else that reports energy
    from counters (gateway, dashboards) must use.

    Without `bounds`, from its first to its last reading. With `bounds` = [start, end), as
    the engine computes a register over a period (`apportion`): `readings` may include the
    last reading before `start` and the first after `end` (the engine's `edge_readings`),
    and a step that straddles a bound counts in proportion to its time inside. Uncovered
    time is not substituted (no redundant meter, no edge estimate): the result's coverage
    and flags say what is missing.

    `births` are the device's births in time order (the last one before the first reading
    and those after it are all that matter): their declared maxima bound its rollovers as
    they do in the engine (`limits_of`); without them, the catalogue's alone."""
    ordered = sorted({r.ts: r for r in readings}.values(), key=_time)
    if bounds is None:
        bounds = (ordered[0].ts, ordered[-1].ts) if ordered else (0, 0)
    return apportion(segments(ordered, (), max_gap_ms,
                              register_limits(equipment, metric, births)), bounds)


def register_limits(equipment: EquipmentType | None, metric: str,
                    births: Sequence[LifeEvent] = ()) -> Limits:
    """`limits_of`, and no limits at all for a device of unknown type."""
    return limits_of(equipment, metric, births) if equipment is not None else Limits()


def counts_in_totals(equipment: EquipmentType | None) -> bool:
    """Whether a device's registers add to line and site totals: production equipment does;
    meters (electricity, gas, belt scale) measure the same flows again and never add."""
    return equipment is not None and CATALOGUE[equipment].domain is not None


def power_metrics() -> tuple[str, ...]:
    """Gauges in kW: integrated, they check the electricity register."""
    return tuple(sorted({m.name for spec in CATALOGUE.values() for m in spec.metrics
                         if m.kind is MetricKind.GAUGE and m.unit == "kW"}))


@dataclass(frozen=True, slots=True, order=True)
class Device:
    line: str
    device: str
    type: EquipmentType

    @property
    def domain(self) -> str | None:
        domain = CATALOGUE[self.type].domain
        return domain.value if domain else None

    @property
    def key(self) -> tuple[str, str]:
        """Line and device: how lifecycle points (deaths carry no type) name it."""
        return self.line, self.device


@dataclass(frozen=True, slots=True)
class Register:
    device: Device
    metric: str
    quantity: str
    readings: tuple[Reading, ...]
    events: tuple[CounterEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class SiteInputs:
    """Everything read for one site and window: counters and power gauges per device, and
    what each device said of itself (births, deaths, `state`) by line and device."""

    site: str
    start_ms: int
    end_ms: int
    registers: tuple[Register, ...]
    power: Mapping[Device, tuple[Reading, ...]] = field(default_factory=dict)
    devices: Mapping[tuple[str, str], DeviceState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Params:
    """The configuration that shapes the counter maths and the quality verdict (part of the
    config hash, and stored in every record)."""

    max_gap_ms: int = 300_000
    power_tolerance: Decimal = Decimal("0.1")
    power_floor_kwh: Decimal = Decimal("1")
    max_edge_estimate_ms: int = 900_000
    min_coverage: Decimal = Decimal("0.95")
    max_substituted_share: Decimal = Decimal("0.05")


@dataclass(frozen=True, slots=True, order=True)
class LoggedEvent:
    ts: int
    device: str
    metric: str
    flag: str
    detail: str


@dataclass(frozen=True, slots=True)
class Measured:
    """One quantity over a period: additive, so periods and entities sum."""

    amount: Decimal = ZERO
    covered_ms: int = 0
    duration_ms: int = 0
    substituted: Decimal = ZERO
    methods: Mapping[str, Decimal] = field(default_factory=dict)
    """Substituted amount by method (gap_bridged, redundant_meter, estimated, state_off)."""
    lacking: tuple[tuple[int, int], ...] = ()
    """Time not measured directly, as [start, end) spans."""

    def __add__(self, other: Measured) -> Measured:
        methods = {k: self.methods.get(k, ZERO) + other.methods.get(k, ZERO)
                   for k in sorted(set(self.methods) | set(other.methods))}
        return Measured(self.amount + other.amount, self.covered_ms + other.covered_ms,
                        self.duration_ms + other.duration_ms,
                        self.substituted + other.substituted, methods,
                        (*self.lacking, *other.lacking))

    @classmethod
    def of(cls, result: IntervalResult) -> Measured:
        """Substitutions by method: each fill of uncovered time (`result.filled`, listed
        even at zero: a `state_off` zero is a substitution too), the rest bridged gaps."""
        filled = sum((amount for _, amount in result.filled), ZERO)
        methods = {Flag.GAP_BRIDGED.value: result.substituted - filled} if (
            result.substituted > filled) else {}
        for method, amount in result.filled:
            methods[method.value] = methods.get(method.value, ZERO) + amount
        return cls(result.amount, result.covered_ms, result.end - result.start,
                   result.substituted, methods, result.lacking)


@dataclass(frozen=True, slots=True)
class Activity:
    quantities: Mapping[str, Measured] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()
    events: tuple[LoggedEvent, ...] = ()

    def __add__(self, other: Activity) -> Activity:
        keys = sorted(set(self.quantities) | set(other.quantities))
        empty = Measured()
        return Activity(
            {k: self.quantities.get(k, empty) + other.quantities.get(k, empty) for k in keys},
            self.flags | other.flags, tuple(sorted(chain(self.events, other.events))))

    def amount(self, quantity: str) -> Decimal:
        measured = self.quantities.get(quantity)
        return measured.amount if measured else ZERO


def total(activities: Iterable[Activity]) -> Activity:
    result = Activity()
    for activity in activities:
        result = result + activity
    return result


def device_activities(inputs: SiteInputs, bounds: tuple[int, int],
                      params: Params) -> dict[Device, Activity]:
    """Activity of every primary device over `bounds`, substitutions applied."""
    states = {r.device: inputs.devices.get(r.device.key, UNKNOWN) for r in inputs.registers}
    segs = {id(r): segments(r.readings, r.events, params.max_gap_ms,
                            limits_of(r.device.type, r.metric, states[r.device].births))
            for r in inputs.registers}
    primary, redundant = _split(inputs.registers)
    per_device: dict[Device, list[Activity]] = defaultdict(list)
    for register in primary:
        result = apportion(segs[id(register)], bounds)
        if result.uncovered:
            peers = [r for r in primary if _same_place(r, register) and r is not register]
            meters = [r for r in redundant if _same_place(r, register)]
            result = _fill(result, segs[id(register)], [segs[id(m)] for m in meters],
                           [segs[id(p)] for p in peers], params.max_edge_estimate_ms,
                           states[register.device])
        per_device[register.device].append(_activity(register, result))
    checked = {d: _power_check(d, acts, inputs.power.get(d, ()), bounds, params)
               for d, acts in per_device.items()}
    return dict(sorted(checked.items()))


def _split(registers: Sequence[Register]) -> tuple[list[Register], list[Register]]:
    """Production devices' registers count; meters only fill their line's gaps."""
    return ([r for r in registers if r.device.domain],
            [r for r in registers if not r.device.domain])


def _same_place(a: Register, b: Register) -> bool:
    return a.device.line == b.device.line and a.quantity == b.quantity


def _fill(result: IntervalResult, own: Sequence[Segment], meters: Sequence[Sequence[Segment]],
          peers: Sequence[Sequence[Segment]], edge_ms: int,
          device: DeviceState) -> IntervalResult:
    """Uncovered time from a redundant meter less its other consumers, else what the
    register's data and the device's own state support."""
    for meter in meters:
        amount = _meter_share(result.uncovered, meter, peers)
        if amount is not None:
            return substitute(result, amount, Flag.REDUNDANT_METER)
    return estimate(result, own, edge_ms, device)


def _meter_share(windows: Sequence[tuple[int, int]], meter: Sequence[Segment],
                 peers: Sequence[Sequence[Segment]]) -> Decimal | None:
    amount = ZERO
    for window in windows:
        parts = [apportion(meter, window), *(apportion(p, window) for p in peers)]
        if any(part.uncovered for part in parts):
            return None
        amount += max(ZERO, parts[0].amount - sum((p.amount for p in parts[1:]), ZERO))
    return amount


def _activity(register: Register, result: IntervalResult) -> Activity:
    events = tuple(LoggedEvent(e.ts, register.device.device, register.metric, e.flag.value,
                               e.detail) for e in result.events)
    return Activity({register.quantity: Measured.of(result)},
                    frozenset(f.value for f in result.flags), events)


def _power_check(device: Device, activities: Sequence[Activity], power: Sequence[Reading],
                 bounds: tuple[int, int], params: Params) -> Activity:
    activity = total(activities)
    electricity = activity.quantities.get("electricity_kwh")
    if not power or electricity is None or electricity.covered_ms < electricity.duration_ms:
        return activity
    integrated = power_energy_kwh(power, bounds)
    if integrated is None or not power_mismatch(
            electricity.amount, integrated, params.power_tolerance, params.power_floor_kwh):
        return activity
    alarm = LoggedEvent(bounds[0], device.device, "power_kw", Flag.POWER_MISMATCH.value,
                        f"register {electricity.amount} kWh, integrated power {integrated} kWh")
    return activity + Activity(flags=frozenset({Flag.POWER_MISMATCH.value}), events=(alarm,))


def combine(parts: Iterable[Mapping[Device, Activity]]) -> dict[Device, Activity]:
    """Sum per-device activities of consecutive windows (days into a month)."""
    summed: dict[Device, Activity] = {}
    for part in parts:
        for device, activity in part.items():
            summed[device] = summed[device] + activity if device in summed else activity
    return dict(sorted(summed.items()))



def slice_inputs(inputs: SiteInputs, start: int, end: int, horizon_ms: int) -> SiteInputs:
    """What a read of [start, end) alone would return, cut from a read of a wider window.

    Exact when [start, end) lies inside `inputs`' window and both use the same horizon.
    """
    registers = tuple(
        Register(r.device, r.metric, r.quantity, edge_readings(r.readings, start, end,
                                                                horizon_ms),
                 tuple(e for e in r.events if start - horizon_ms <= e.ts < end + horizon_ms))
        for r in inputs.registers)
    kept = tuple(r for r in registers if r.readings)
    power = {d: _inside(readings, start, end) for d, readings in inputs.power.items()}
    devices = {key: DeviceState(lifecycle_window(state.lifecycle, start - horizon_ms,
                                                 end + horizon_ms),
                                edge_readings(state.states, start, end, horizon_ms))
               for key, state in inputs.devices.items()}
    return SiteInputs(inputs.site, start, end, kept, {d: p for d, p in power.items() if p},
                      {k: d for k, d in devices.items() if d.lifecycle or d.states})


_Timed = TypeVar("_Timed", bound=Reading | StateReading)


def edge_readings(readings: Sequence[_Timed], start: int, end: int,
                   horizon_ms: int) -> tuple[_Timed, ...]:
    """Those in [start, end), with the last one before and the first one after within the
    horizon. Readings are in time order: a day's quarters are cut by bisection, not scans."""
    first = bisect_left(readings, start, key=_time)
    stop = bisect_left(readings, end, lo=first, key=_time)
    before = [r for r in readings[max(0, first - 1):first] if r.ts >= start - horizon_ms]
    after = [r for r in readings[stop:stop + 1] if r.ts < end + horizon_ms]
    return (*before, *readings[first:stop], *after)


def _inside(readings: Sequence[Reading], start: int, end: int) -> tuple[Reading, ...]:
    first = bisect_left(readings, start, key=_time)
    return tuple(readings[first:bisect_left(readings, end, lo=first, key=_time)])


def _time(reading: Reading | StateReading) -> int:
    return reading.ts
