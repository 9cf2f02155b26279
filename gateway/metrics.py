"""Telemetry queries: InfluxQL built from validated parts, with every value bound.

Values (site, line, device, times) travel as bound parameters (`$site`). Identifiers
cannot be bound in InfluxQL, so the metric name is checked against the catalogue (or the
custom-metric pattern) and then quoted; the aggregate and interval come from fixed enums.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from adapters.influx import Series, quote_identifier
from carbon import (
    LifeEvent,
    Reading,
    bucket_increases,
    counter_events,
    counts_in_totals,
    lifecycles,
    window_increase,
)
from contract import CATALOGUE, CUSTOM_PREFIX, EquipmentType, MetricKind
from contract.codec import CUSTOM_NAME
from contract.points import DEVICE_EVENT, LIFECYCLE, TELEMETRY
from gateway.core.errors import Invalid

COUNTER_METRICS = frozenset(
    metric.name for spec in CATALOGUE.values() for metric in spec.metrics
    if metric.kind is MetricKind.COUNTER)
NUMERIC_METRICS = frozenset(
    metric.name for spec in CATALOGUE.values() for metric in spec.metrics
    if metric.kind is not MetricKind.STATE)


class Aggregate(StrEnum):
    """InfluxQL functions a caller may apply; `spread` turns a counter into its increase."""

    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    FIRST = "first"
    LAST = "last"
    SPREAD = "spread"


_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# InfluxDB stores nanoseconds in an int64 (up to 2262); telemetry is never older than 1970.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = "start and end must lie between 1970-01-01 and 2262-01-01"


class Interval(StrEnum):
    ONE_MINUTE = "1m"
    FIVE_MINUTES = "5m"
    FIFTEEN_MINUTES = "15m"
    ONE_HOUR = "1h"
    SIX_HOURS = "6h"
    ONE_DAY = "1d"

    @property
    def duration(self) -> timedelta:
        amount, unit = int(self.value[:-1]), self.value[-1]
        return timedelta(**{_UNITS[unit]: amount})


@dataclass(frozen=True, slots=True)
class Scope:
    """A site, one of its lines, or one device on a line."""

    site: str
    line: str | None = None
    device: str | None = None


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    params: dict[str, Any]


class SeriesReader(Protocol):
    def query(self, q: str, params: dict[str, Any] | None = None,
              db: str | None = None) -> list[Series]: ...


def check_metric(name: str) -> str:
    """The metric name, if it may be queried; Invalid otherwise."""
    if name in NUMERIC_METRICS or CUSTOM_NAME.fullmatch(name):
        return name
    raise Invalid(f"{name!r} is not a numeric catalogue metric nor a custom metric "
                  f"({CUSTOM_PREFIX}...)")


def check_window(window: Window, every: Interval | None, max_points: int) -> None:
    if window.start < EARLIEST or window.end > LATEST:
        raise Invalid(OUT_OF_RANGE)
    if window.end <= window.start:
        raise Invalid("end must be after start")
    if every is not None and (window.end - window.start) / every.duration > max_points:
        raise Invalid(f"{every.value} buckets over this window exceed {max_points} points; "
                      "choose a longer interval or a shorter window")


def series_query(scope: Scope, metric: str, aggregate: Aggregate, window: Window,
                 every: Interval) -> Query:
    """One series per device, `aggregate(metric)` per `every` bucket."""
    return _select(scope, metric, aggregate, window,
                   f'GROUP BY time({every.value}), "device" fill(none)')


def aggregate_query(scope: Scope, metric: str, aggregate: Aggregate, window: Window) -> Query:
    """One value per device over the whole window."""
    return _select(scope, metric, aggregate, window, 'GROUP BY "device"')


QUARTER = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class CounterRules:
    """How the engine reads a register around a period (`CarbonSettings`): how far beyond it
    to look for the readings that bridge its edges, and the longest step that is no gap."""

    horizon_ms: int = 86_400_000
    max_gap_ms: int = 300_000

    @property
    def horizon(self) -> timedelta:
        return timedelta(milliseconds=self.horizon_ms)


def read_span(window: Window) -> Window:
    """The quarter-hours a counter spread's window touches: the engine judges a register
    quarter by quarter (its periods are sums of quarter-hours), so the gateway reads them
    whole."""
    start = EARLIEST + (window.start - EARLIEST) // QUARTER * QUARTER
    return Window(start, EARLIEST - (EARLIEST - window.end) // QUARTER * QUARTER)


def around(span: Window, rules: CounterRules) -> Window:
    """`span` and the engine's horizon on either side (within what InfluxDB can hold)."""
    return Window(max(span.start - rules.horizon, EARLIEST), min(span.end + rules.horizon, LATEST))


def readings_query(scope: Scope, metric: str, span: Window, rules: CounterRules) -> Query:
    """Every reading of a counter per device in `span` (`read_span`), with the last one
    before it and the first one after it within the horizon, as the engine's reader reads
    a period. Three statements, one request, every value bound."""
    field = quote_identifier(check_metric(metric))
    conditions, params = _conditions(scope, span)
    where = f'FROM "{TELEMETRY}" WHERE {" AND ".join(conditions)}'
    group = 'GROUP BY "device", "device_type", "line"'
    edges = around(span, rules)
    return Query(
        f'SELECT last({field}) AS "value" {where} AND time >= $before AND time < $start '
        f"{group}; "
        f'SELECT {field} AS "value" {where} AND time >= $start AND time < $end {group}; '
        f'SELECT first({field}) AS "value" {where} AND time >= $end AND time < $after {group}',
        {**params, "before": _rfc3339(edges.start), "after": _rfc3339(edges.end)})


Births = Mapping[tuple[str, str], Sequence[LifeEvent]]
"""Per line and device, its births in time order (their declared maxima bound rollovers)."""


def births_query(scope: Scope, window: Window, max_births: int) -> Query:
    """Each device's births that bound its counters' rollovers in the window, as the engine
    reads them: its last birth before `start` (however old) and every one inside, at most
    `max_births` + 1 per device (so that `device_births` can tell when there are more).
    Two statements, one request."""
    conditions, params = _conditions(scope, window)
    where = f'FROM "{LIFECYCLE}" WHERE {" AND ".join(conditions)} AND "event" = $event'
    group = 'GROUP BY "line", "device"'
    return Query(f"SELECT * {where} AND time < $start {group} ORDER BY time DESC LIMIT 1; "
                 f"SELECT * {where} AND time >= $start AND time < $end {group} "
                 f"LIMIT {int(max_births) + 1}", {**params, "event": "birth"})


def device_births(series: list[Series], window: Window,
                  max_births: int) -> dict[tuple[str, str], tuple[LifeEvent, ...]]:
    """Births per line and device from `births_query`'s rows (`carbon.lifecycles`, the
    engine's parsing); Invalid when a device was born more than `max_births` times in the
    window (its query stopped there: later births would be missing)."""
    found = {key: tuple(e for e in events if e.born)
             for key, events in lifecycles(series).items()}
    start_ms = _ms(window.start)
    for (line, device), births in found.items():
        if sum(birth.ts >= start_ms for birth in births) > max_births:
            raise Invalid(f"device {line}/{device} was born more than {max_births} times in "
                          "this window; choose a shorter window or a narrower scope")
    return found


def events_query(scope: Scope, window: Window, max_events: int) -> Query:
    """The counter events each device declared in the window (`device_event`: resets,
    meter replacements, rollovers, clock adjustments), at most `max_events` + 1 per device
    (so that `check_events` can tell when there are more)."""
    conditions, params = _conditions(scope, window)
    return Query(f'SELECT * FROM "{DEVICE_EVENT}" WHERE {" AND ".join(conditions)} '
                 f'AND time >= $start AND time < $end GROUP BY "line", "device" '
                 f"LIMIT {int(max_events) + 1}", params)


def check_events(series: list[Series], max_events: int) -> list[Series]:
    """`events_query`'s rows; Invalid when a device declared more than `max_events` events
    there (its query stopped there: later ones would be missing)."""
    for each in series:
        if len(each.values) > max_events:
            raise Invalid(f"device {each.tags.get('line', '')}/{each.tags.get('device', '')} "
                          f"declared more than {max_events} counter events around this "
                          "window; choose a shorter window or a narrower scope")
    return series


@dataclass(frozen=True, slots=True)
class Increase:
    device: str
    value: float
    counts: bool
    coverage: float
    """Share of the window measured directly (the rest is not substituted)."""
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Register:
    """One device's raw readings of a counter, as InfluxDB returned them."""

    line: str
    device: str
    equipment: EquipmentType | None
    readings: list[Reading]

    def births(self, births: Births) -> Sequence[LifeEvent]:
        return births.get((self.line, self.device), ())


def registers(series: list[Series]) -> list[Register]:
    """Each device's readings from `readings_query`'s three statements, as one register."""
    found: dict[tuple[str, str, str], list[Reading]] = {}
    for each in series:
        key = (each.tags.get("device", ""), each.tags.get("device_type", ""),
               each.tags.get("line", ""))
        found.setdefault(key, []).extend(
            Reading(int(t), Decimal(str(v))) for t, v in each.values
            if isinstance(v, int | float) and not isinstance(v, bool))
    return [Register(line, device, _equipment(kind), readings)
            for (device, kind, line), readings in sorted(found.items())]


@dataclass(frozen=True, slots=True)
class BucketSeries:
    device: str
    points: list[tuple[int, float]]
    """(bucket start in epoch ms, the counter's increase in that bucket)."""


def counter_increases(series: list[Series], metric: str, window: Window,
                      rules: CounterRules = CounterRules(), births: Births | None = None,
                      events: Sequence[Series] = ()) -> list[Increase]:
    """Each device's counter increase over the window as the energy-carbon engine computes
    it (`carbon.window_increase`): its counter rules (a drop is a rollover only when
    physically possible, within the catalogue's and the device's `births`' declared maximum
    rate; a reading error adds nothing; a new meter's start reading is never consumption),
    quarter-hour by quarter-hour from the readings that bridge each quarter's edges, a step
    across the window's bounds counted in proportion to its time inside; the counter
    `events` the device declared (`events_query`'s rows) honoured as the engine honours
    them. Uncovered time is not substituted: `coverage` says how much there is. Devices
    whose readings reach no part of the window are left out."""
    bounds = _bounds(window)
    found = []
    for register in registers(series):
        result = window_increase(register.equipment, metric, register.readings, bounds,
                                 rules.horizon_ms, rules.max_gap_ms,
                                 register.births(births or {}),
                                 counter_events(events, register.line, register.device,
                                                metric))
        if result.uncovered_ms == bounds[1] - bounds[0] and not result.events:
            continue
        found.append(Increase(register.device, float(result.amount),
                              counts_in_totals(register.equipment), float(result.coverage),
                              tuple(sorted(f.value for f in result.flags))))
    return found


def counter_buckets(series: list[Series], metric: str, window: Window, every: Interval,
                    rules: CounterRules = CounterRules(), births: Births | None = None,
                    events: Sequence[Series] = ()) -> list[BucketSeries]:
    """Each device's counter increase per `every` bucket by the same rules, births, events
    (`carbon.bucket_increases` over the window): a step that straddles buckets counts in
    each in proportion to its time there, so a device's buckets add up to its increase in
    `counter_increases`. Buckets no step reaches are left out (as InfluxQL's `fill(none)`)."""
    every_ms = int(every.duration.total_seconds() * 1000)
    bounds = _bounds(window)
    found = []
    for register in registers(series):
        buckets = bucket_increases(register.equipment, metric, register.readings, every_ms,
                                   rules.max_gap_ms, register.births(births or {}),
                                   bounds=bounds, horizon_ms=rules.horizon_ms,
                                   events=counter_events(events, register.line,
                                                         register.device, metric))
        if buckets:
            found.append(BucketSeries(register.device, [(b.start, float(b.amount))
                                                        for b in buckets]))
    return found


def _bounds(window: Window) -> tuple[int, int]:
    return _ms(window.start), _ms(window.end)


def _ms(moment: datetime) -> int:
    return (moment - EARLIEST) // timedelta(milliseconds=1)


def check_rows(counts: list[Series], max_rows: int) -> None:
    """Invalid when the readings counted per device (`count` aggregates) exceed `max_rows`:
    a counter's rules need every raw reading, and memory is bounded."""
    rows = sum(int(v) for s in counts for _, v in s.values if isinstance(v, int | float))
    if rows > max_rows:
        raise Invalid(f"this window holds {rows} readings of the counter, more than the "
                      f"{max_rows} one request may read; choose a shorter window or a "
                      "narrower scope (line, device)")


def counter_total(increases: list[Increase]) -> float | None:
    """The scope's total without double counting: production devices only, since meters
    measure the same flows again; a scope of meters only is their sum."""
    counted = [i.value for i in increases if i.counts] or [i.value for i in increases]
    return sum(counted) if counted else None


def _equipment(name: str) -> EquipmentType | None:
    try:
        return EquipmentType(name)
    except ValueError:
        return None


def _select(scope: Scope, metric: str, aggregate: Aggregate | None, window: Window,
            group_by: str) -> Query:
    field = quote_identifier(check_metric(metric))
    conditions, params = _conditions(scope, window)
    where = " AND ".join([*conditions, "time >= $start", "time < $end"])
    selected = f"{aggregate.value}({field})" if aggregate is not None else field
    text = (f'SELECT {selected} AS "value" FROM "{TELEMETRY}" '
            f"WHERE {where} {group_by}")
    return Query(text, params)


def _conditions(scope: Scope, window: Window) -> tuple[list[str], dict[str, Any]]:
    """The scope's tag conditions, and every value bound (the window's too)."""
    conditions = ['"site" = $site']
    params: dict[str, Any] = {"site": scope.site, "start": _rfc3339(window.start),
                              "end": _rfc3339(window.end)}
    for tag in ("line", "device"):
        value = getattr(scope, tag)
        if value is not None:
            conditions.append(f'"{tag}" = ${tag}')
            params[tag] = value
    return conditions, params


def _rfc3339(moment: datetime) -> str:
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


def combine(aggregate: Aggregate, values: list[float]) -> float | None:
    """Devices' values as one figure for their line or site; None where that has no meaning."""
    if not values:
        return None
    if aggregate in (Aggregate.SUM, Aggregate.COUNT, Aggregate.SPREAD):
        return sum(values)
    if aggregate is Aggregate.MEAN:
        return sum(values) / len(values)
    if aggregate is Aggregate.MIN:
        return min(values)
    if aggregate is Aggregate.MAX:
        return max(values)
    return None  # first/last of different devices' series is not one quantity
