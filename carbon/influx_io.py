"""InfluxDB adapters: raw telemetry in (InfluxQL), `energy_carbon` points out.

The reader turns query results into the pure `SiteInputs`; the writer turns figure rows into
`contract.Point`s. Exceptions stay the `adapters.influx` hierarchy, translated there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol, get_args

from adapters.influx import Series, quote_identifier
from carbon.activity import (
    Device,
    Register,
    SiteInputs,
    counter_metrics,
    counter_names,
    power_metrics,
)
from carbon.counters import CounterEvent, EventKind, Reading
from carbon.figures import Row
from carbon.lifecycle import DeviceState, LifeEvent, StateReading, life_event
from carbon.periods import Period
from carbon.quality import Verdict
from contract.catalogue import EquipmentType
from contract.points import (
    DEVICE_EVENT,
    ENERGY_CARBON,
    LIFECYCLE,
    TELEMETRY,
    FieldValue,
    Point,
)

MEASUREMENT = ENERGY_CARBON
_NS = 1_000_000
_GROUP = "GROUP BY line, device, device_type"
_EVENT_KINDS = {k.value: k for k in EventKind}
_ALL = "*"  # events that concern every register of a device
STATE = "state"  # the catalogue's operating state metric (off, idle, running, ...)


class Query(Protocol):
    def query(self, q: str, params: dict[str, Any] | None = None,
              db: str | None = None) -> list[Series]: ...


class PointSink(Protocol):
    def write(self, points: Sequence[Point], database: str | None = None) -> None: ...


class TelemetryReader:
    """Reads one site's counters, power gauges, states, counter events and lifecycle for a
    window.

    Besides the readings inside [start, end) it fetches each register's (and each device's
    state's) last reading before `start` and first reading from `end` on, within
    `horizon_ms`, so that a difference across the window's edges (or a gap spanning them) is
    exact; and each device's births and deaths within the horizon, with its last birth and
    last death before it, however old (`lifecycle_window`).
    """

    def __init__(self, ql: Query, horizon_ms: int) -> None:
        self._ql = ql
        self._horizon_ms = horizon_ms
        self._roles = counter_metrics()
        self._counters = counter_names()
        self._power = power_metrics()

    def sites(self) -> list[str]:
        series = self._ql.query(f'SHOW TAG VALUES FROM {TELEMETRY} WITH KEY = "site"')
        return sorted(str(row[1]) for s in series for row in s.values)

    def read(self, site: str, start_ms: int, end_ms: int) -> SiteInputs:
        before = (start_ms - self._horizon_ms, start_ms)
        after = (end_ms, end_ms + self._horizon_ms)
        rows = [*self._select("last", site, before), *self._window(site, start_ms, end_ms),
                *self._select("first", site, after)]
        events = self._events(site, before[0], after[1])
        inputs = _assemble(site, start_ms, end_ms, rows, events, self._roles, self._power)
        lifecycle = lifecycles(self._lifecycle(site, before[0], after[1]))
        return replace(inputs, devices=_devices(rows, lifecycle))

    def _window(self, site: str, start: int, end: int) -> list[Series]:
        fields = ", ".join(quote_identifier(f)
                           for f in (*self._counters, *self._power, STATE))
        return self._ql.query(
            f"SELECT {fields} FROM {TELEMETRY} WHERE site = $site AND time >= $start "
            f"AND time < $end {_GROUP}", _params(site, start, end))

    def _select(self, selector: str, site: str, window: tuple[int, int]) -> list[Series]:
        statements = "; ".join(
            f"SELECT {selector}({quote_identifier(f)}) AS {quote_identifier(f)} FROM {TELEMETRY} "
            f"WHERE site = $site AND time >= $start AND time < $end {_GROUP}"
            for f in (*self._counters, STATE))
        return self._ql.query(statements, _params(site, *window))

    def _lifecycle(self, site: str, start: int, end: int) -> list[Series]:
        """Births and deaths in [start, end), and each device's last birth and last death
        before `start` (one statement each; LIMIT applies per device)."""
        where = f"FROM {LIFECYCLE} WHERE site = $site"
        last = (f"SELECT * {where} AND event = $kind AND time < $start GROUP BY line, device "
                "ORDER BY time DESC LIMIT 1")
        found = [*self._ql.query(last, {**_params(site, start, end), "kind": "birth"}),
                 *self._ql.query(last, {**_params(site, start, end), "kind": "death"})]
        return [*found, *self._ql.query(
            f"SELECT * {where} AND time >= $start AND time < $end GROUP BY line, device",
            _params(site, start, end))]

    def _events(self, site: str, start: int, end: int) -> list[Series]:
        return self._ql.query(
            f"SELECT * FROM {DEVICE_EVENT} WHERE site = $site AND time >= $start "
            "AND time < $end GROUP BY line, device", _params(site, start, end))


def _params(site: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    # InfluxQL binds integer times as nanoseconds; strings would not compare with `time`.
    return {"site": site, "start": start_ms * _NS, "end": end_ms * _NS}


def _assemble(site: str, start: int, end: int, series: Iterable[Series],
              events: Iterable[Series], roles: Mapping[EquipmentType, Mapping[str, str]],
              power: Sequence[str]) -> SiteInputs:
    readings: dict[tuple[Device, str], dict[int, Reading]] = defaultdict(dict)
    for s in series:
        device = _device(s.tags)
        if device is None:
            continue
        # Column positions once per series, not a dict per row: a plant-day is ~10^6 values.
        wanted = {*roles[device.type], *power}
        columns = [(i, name) for i, name in enumerate(s.columns) if name in wanted]
        at = s.columns.index("time")
        for row in s.values:
            ts = int(row[at])
            for i, name in columns:
                value = row[i]
                if type(value) is float or type(value) is int:  # not bool, not None
                    readings[device, name][ts] = Reading(ts, Decimal(str(value)))
    declared = _counter_events(events)
    registers = tuple(
        Register(d, m, roles[d.type][m], tuple(v for _, v in sorted(r.items())),
                 _of_register(declared, d.line, d.device, m))
        for (d, m), r in sorted(readings.items()) if m in roles[d.type])
    gauges = {d: tuple(v for _, v in sorted(r.items()))
              for (d, m), r in sorted(readings.items()) if m in power}
    return SiteInputs(site, start, end, registers, gauges)


def _devices(series: Iterable[Series], lifecycle: Mapping[tuple[str, str], tuple[LifeEvent, ...]]
             ) -> dict[tuple[str, str], DeviceState]:
    """Per line and device, its lifecycle and its `state` readings in time order."""
    states: dict[tuple[str, str], dict[int, StateReading]] = defaultdict(dict)
    for s in series:
        if STATE not in s.columns or "line" not in s.tags or "device" not in s.tags:
            continue
        at, column = s.columns.index("time"), s.columns.index(STATE)
        key = (s.tags["line"], s.tags["device"])
        for row in s.values:
            if isinstance(row[column], str):
                states[key][int(row[at])] = StateReading(int(row[at]), row[column])
    keys = sorted({*states, *lifecycle})
    return {k: DeviceState(lifecycle.get(k, ()),
                           tuple(v for _, v in sorted(states.get(k, {}).items())))
            for k in keys}


def lifecycles(series: Iterable[Series]) -> dict[tuple[str, str], tuple[LifeEvent, ...]]:
    """Per line and device, the births and deaths in `device_lifecycle` rows (grouped by
    line and device, times in epoch ms), in time order, each once however many statements
    returned it. Pure: the engine's reader and the gateway both read births with it."""
    found: dict[tuple[str, str], dict[tuple[int, bool], LifeEvent]] = defaultdict(dict)
    for s in series:
        for record in s.records():
            event = life_event(record)
            if event is not None:
                found[record["line"], record["device"]][event.ts, event.born] = event
    return {k: tuple(sorted(v.values())) for k, v in sorted(found.items())}


def _device(tags: Mapping[str, str]) -> Device | None:
    try:
        return Device(tags["line"], tags["device"], EquipmentType(tags["device_type"]))
    except (KeyError, ValueError):
        return None  # a device of unknown type has no roles to count


def counter_events(series: Iterable[Series], line: str, device: str,
                   metric: str) -> tuple[CounterEvent, ...]:
    """One register's declared events in `device_event` rows (grouped by line and device),
    as the engine's reader assembles them: the metric's own and the device's clock
    adjustments, in time order. Pure: the gateway reads them with it."""
    return _of_register(_counter_events(series), line, device, metric)


def _of_register(declared: Mapping[tuple[str, str, str], Sequence[CounterEvent]], line: str,
                 device: str, metric: str) -> tuple[CounterEvent, ...]:
    return tuple(sorted((*declared.get((line, device, metric), ()),
                         *declared.get((line, device, _ALL), ())), key=lambda e: e.ts))


def _counter_events(series: Iterable[Series]) -> dict[tuple[str, str, str],
                                                      tuple[CounterEvent, ...]]:
    found: dict[tuple[str, str, str], list[CounterEvent]] = defaultdict(list)
    for s in series:
        for record in s.records():
            kind = _EVENT_KINDS.get(str(record.get("event")))
            if kind is EventKind.CLOCK_ADJUSTED:  # the device's clock: every register
                found[record["line"], record["device"], _ALL].append(
                    CounterEvent(int(record["time"]), kind))
                continue
            if kind is None or not record.get("metric"):
                continue
            # A rollover states the register size as `rollover_at` (older agents: old_final).
            final = record.get("value_rollover_at") if kind is EventKind.ROLLOVER else None
            found[record["line"], record["device"], str(record["metric"])].append(CounterEvent(
                int(record["time"]), kind, _decimal(final or record.get("value_old_final")),
                _decimal(record.get("value_new_initial"))))
    return {k: tuple(sorted(v, key=lambda e: e.ts)) for k, v in found.items()}


def _decimal(value: Any) -> Decimal | None:
    return Decimal(str(value)) if isinstance(value, int | float) else None


UNKNOWN_REGION = "unknown"
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)


def points(site: str, period: Period, rows: Sequence[Row], grid_factor_id: str,
           convention: str, region: str = UNKNOWN_REGION,
           verdict: str | None = None) -> list[Point]:
    """`energy_carbon` points, one per row; the same period always maps to the same series.

    `region` (the site profile's city) is a tag so that the regulator's dashboard can group
    by it; `verdict` (the period's quality verdict) is a field, because a recalculation may
    change it and a changed tag would leave the old series behind, counted twice.
    """
    return [_point(site, period, row, grid_factor_id, convention, region, verdict)
            for row in rows]


def _point(site: str, period: Period, row: Row, grid_factor_id: str, convention: str,
           region: str, verdict: str | None) -> Point:
    tags = [("site", site), ("level", row.level), ("period", period.granularity.value),
            ("domain", row.domain), ("region", region)]
    tags += [("line", row.line)] if row.line else []
    tags += [("device", row.device)] if row.device else []
    fields: dict[str, FieldValue] = {k: float(v) for k, v in row.values.items() if v is not None}
    fields.update(electricity_convention=convention, grid_factor_id=grid_factor_id)
    if verdict is not None:
        fields["verdict"] = verdict
        if row.level == "site":  # counts of site-periods per verdict, summable by region
            fields.update({f"verdict_{v}": int(v == verdict) for v in VERDICTS})
    return Point(MEASUREMENT, tuple(sorted(tags)), fields, period.start_ms)
