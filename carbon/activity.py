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


def limits_of(equipment: EquipmentType, metric: str) -> Limits:
    """The register's plausible maximum rate from the catalogue range of its rate gauge;
    none (so no rollover is ever inferred) where the catalogue has no such gauge."""
    gauge = RATE_GAUGES.get(metric)
    spec = metric_spec(equipment, gauge) if gauge else None
    if spec is None:
        return Limits()
    return Limits(Decimal(str(spec.maximum)) / _MS_PER_H)


def register_increase(equipment: EquipmentType | None, metric: str,
                      readings: Sequence[Reading], max_gap_ms: int = 300_000) -> IntervalResult:
    """A register's increase from its first to its last reading by the engine's counter
    rules (rollover only when physical, reading errors skipped, restarts not counted): what
    anything else that reports energy from counters (gateway, dashboards) must use."""
    ordered = sorted({r.ts: r for r in readings}.values(), key=_time)
    bounds = (ordered[0].ts, ordered[-1].ts) if ordered else (0, 0)
    limits = limits_of(equipment, metric) if equipment is not None else Limits()
    return apportion(segments(ordered, (), max_gap_ms, limits), bounds)


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


@dataclass(frozen=True, slots=True)
class Register:
    device: Device
    metric: str
    quantity: str
    readings: tuple[Reading, ...]
    events: tuple[CounterEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class SiteInputs:
    """Everything read for one site and window: counters and power gauges per device."""

    site: str
    start_ms: int
    end_ms: int
    registers: tuple[Register, ...]
    power: Mapping[Device, tuple[Reading, ...]] = field(default_factory=dict)


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
    """Substituted amount by method (gap_bridged, redundant_meter, estimated)."""
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
    def of(cls, result: IntervalResult, filled: Decimal = ZERO,
           method: Flag | None = None) -> Measured:
        """`filled` is the part of `result.substituted` obtained by `method`; the rest
        bridged gaps."""
        methods = {Flag.GAP_BRIDGED.value: result.substituted - filled} if (
            result.substituted > filled) else {}
        if method is not None and filled > 0:
            methods[method.value] = filled
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
    segs = {id(r): segments(r.readings, r.events, params.max_gap_ms,
                            limits_of(r.device.type, r.metric)) for r in inputs.registers}
    primary, redundant = _split(inputs.registers)
    per_device: dict[Device, list[Activity]] = defaultdict(list)
    for register in primary:
        measured = apportion(segs[id(register)], bounds)
        result, method = measured, None
        if measured.uncovered:
            peers = [r for r in primary if _same_place(r, register) and r is not register]
            meters = [r for r in redundant if _same_place(r, register)]
            result, method = _fill(measured, segs[id(register)], [segs[id(m)] for m in meters],
                                   [segs[id(p)] for p in peers], params.max_edge_estimate_ms)
        filled = result.substituted - measured.substituted
        per_device[register.device].append(_activity(register, result, filled, method))
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
          peers: Sequence[Sequence[Segment]], edge_ms: int) -> tuple[IntervalResult, Flag]:
    """Uncovered time from a redundant meter less its other consumers, else an estimate."""
    for meter in meters:
        amount = _meter_share(result.uncovered, meter, peers)
        if amount is not None:
            return substitute(result, amount, Flag.REDUNDANT_METER), Flag.REDUNDANT_METER
    return estimate(result, own, edge_ms), Flag.ESTIMATED


def _meter_share(windows: Sequence[tuple[int, int]], meter: Sequence[Segment],
                 peers: Sequence[Sequence[Segment]]) -> Decimal | None:
    amount = ZERO
    for window in windows:
        parts = [apportion(meter, window), *(apportion(p, window) for p in peers)]
        if any(part.uncovered for part in parts):
            return None
        amount += max(ZERO, parts[0].amount - sum((p.amount for p in parts[1:]), ZERO))
    return amount


def _activity(register: Register, result: IntervalResult, filled: Decimal,
              method: Flag | None) -> Activity:
    events = tuple(LoggedEvent(e.ts, register.device.device, register.metric, e.flag.value,
                               e.detail) for e in result.events)
    return Activity({register.quantity: Measured.of(result, filled, method)},
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
        Register(r.device, r.metric, r.quantity, _edge_readings(r.readings, start, end,
                                                                horizon_ms),
                 tuple(e for e in r.events if start - horizon_ms <= e.ts < end + horizon_ms))
        for r in inputs.registers)
    kept = tuple(r for r in registers if r.readings)
    power = {d: _inside(readings, start, end) for d, readings in inputs.power.items()}
    return SiteInputs(inputs.site, start, end, kept, {d: p for d, p in power.items() if p})


def _edge_readings(readings: Sequence[Reading], start: int, end: int,
                   horizon_ms: int) -> tuple[Reading, ...]:
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


def _time(reading: Reading) -> int:
    return reading.ts
