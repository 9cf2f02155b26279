"""Telemetry per device, line and site: bucketed series and whole-window aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from adapters.influx import InfluxError, QueryFailed, Series
from contract import DeviceId
from gateway.api.deps import GatewayDep, MetricsViewer, owned_device
from gateway.api.models import (
    IDENTIFIER,
    AggregateResult,
    DeviceSeries,
    DeviceValue,
    SeriesPoint,
    SeriesResult,
    at_ms,
)
from gateway.api.problems import problem_responses
from gateway.context import Gateway
from gateway.core.errors import Invalid, Unavailable
from gateway.core.security import Role
from gateway.metrics import (
    COUNTER_METRICS,
    OUT_OF_RANGE,
    Aggregate,
    Births,
    CounterRules,
    Interval,
    Scope,
    Window,
    aggregate_query,
    around,
    births_query,
    check_events,
    check_rows,
    check_window,
    combine,
    counter_buckets,
    counter_increases,
    counter_total,
    device_births,
    events_query,
    read_span,
    readings_query,
    series_query,
)
from gateway.registry import TokenRecord, device_key

router = APIRouter(prefix="/v1/metrics", tags=["metrics"],
                   responses=problem_responses(401, 403, 422, 503))
DEFAULT_WINDOW = timedelta(hours=1)

Site = Annotated[str, Query(pattern=IDENTIFIER, description="Site id.")]
Line = Annotated[str | None, Query(pattern=IDENTIFIER, description="Line id: narrows to a line.")]
Device = Annotated[str | None, Query(pattern=IDENTIFIER,
                                     description="Device id (needs `line`): one device.")]
Metric = Annotated[str, Query(min_length=1, max_length=64,
                              description="A numeric catalogue metric or a custom `x_` one.")]
Start = Annotated[datetime | None, Query(description="Window start (default: end - 1 h).")]
End = Annotated[datetime | None, Query(description="Window end, exclusive (default: now).")]


def _scope(gateway: Gateway, principal: TokenRecord, site: str, line: str | None,
           device: str | None) -> Scope:
    if device is not None and line is None:
        raise HTTPException(422, "`device` needs `line`.")
    if principal.role is Role.EQUIPMENT_MAKER:
        if line is None or device is None:
            raise HTTPException(403, "Equipment makers may read only their own devices.")
        owned_device(gateway, principal, device_key(DeviceId(site, line, device)))
    return Scope(site, line, device)


def _window(gateway: Gateway, start: datetime | None, end: datetime | None) -> Window:
    try:
        until = _utc(end) if end else at_ms(gateway.clock.now_ms())
        return Window(_utc(start) if start else until - DEFAULT_WINDOW, until)
    except OverflowError:  # a date at the edge of the calendar, such as 0001-01-01
        raise Invalid(OUT_OF_RANGE) from None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _read(gateway: Gateway, text: str, params: dict[str, object]) -> list[Series]:
    try:
        return gateway.adapters.reader.query(text, params)
    except QueryFailed as error:
        raise Invalid(f"InfluxDB could not run the query: {error}") from error
    except InfluxError as error:
        raise Unavailable(f"InfluxDB: {error}") from error


def _rules(gateway: Gateway) -> CounterRules:
    """The engine's horizon and maximum gap (`LOOPMETER_CARBON_*`, as the engine reads them)."""
    carbon = gateway.settings.carbon
    return CounterRules(carbon.horizon_s * 1000, carbon.max_gap_s * 1000)


@dataclass(frozen=True, slots=True)
class CounterRead:
    """What a counter `spread` reads: the readings, the births and the declared events."""

    readings: list[Series]
    births: Births
    events: list[Series]


def _readings(gateway: Gateway, scope: Scope, metric: str, window: Window) -> CounterRead:
    """Every raw reading of a counter in the scope and in the quarter-hours the window
    touches, with the readings that bridge their edges, counted first so that no request
    reads more than `max_readings` of them; the births that bound the devices' rollovers
    there (the engine's limits: catalogue and birth declarations) and the counter events
    they declared, as the engine's reader reads them."""
    span, rules = read_span(window), _rules(gateway)
    counted = aggregate_query(scope, metric, Aggregate.COUNT, span)
    check_rows(_read(gateway, counted.text, counted.params), gateway.settings.max_readings)
    limit, reach = gateway.settings.max_births, around(span, rules)
    births = births_query(scope, reach, limit)
    found = device_births(_read(gateway, births.text, births.params), reach, limit)
    declared = events_query(scope, reach, gateway.settings.max_events)
    events = check_events(_read(gateway, declared.text, declared.params),
                          gateway.settings.max_events)
    query = readings_query(scope, metric, span, rules)
    return CounterRead(_read(gateway, query.text, query.params), found, events)


def _by_counter_rules(aggregate: Aggregate, metric: str) -> bool:
    return aggregate is Aggregate.SPREAD and metric in COUNTER_METRICS


@router.get("/series")
def metric_series(gateway: GatewayDep, principal: MetricsViewer, site: Site, metric: Metric,
                  line: Line = None, device: Device = None, start: Start = None,
                  end: End = None, aggregate: Aggregate = Aggregate.MEAN,
                  every: Interval = Interval.FIVE_MINUTES) -> SeriesResult:
    """`aggregate(metric)` per `every` bucket, one series per device in the scope.

    `spread` of a counter is its increase per bucket as the energy-carbon engine computes
    it (counter rules, quarter-hour by quarter-hour, steps across bounds in proportion to
    time): a device's buckets add up to its `spread` on `/aggregate` over the same window."""
    scope = _scope(gateway, principal, site, line, device)
    window = _window(gateway, start, end)
    check_window(window, every, gateway.settings.max_points)
    if _by_counter_rules(aggregate, metric):
        read = _readings(gateway, scope, metric, window)
        series = [DeviceSeries(device=b.device, points=[
            SeriesPoint(time=at_ms(t), value=v) for t, v in b.points])
            for b in counter_buckets(read.readings, metric, window, every, _rules(gateway),
                                     read.births, read.events)]
    else:
        query = series_query(scope, metric, aggregate, window, every)
        series = [DeviceSeries(device=s.tags.get("device", ""), points=[
            SeriesPoint(time=at_ms(int(t)), value=v) for t, v in s.values if v is not None])
            for s in _read(gateway, query.text, query.params)]
    return SeriesResult(metric=metric, aggregate=aggregate, every=every.value,
                        start=window.start, end=window.end, series=series)


@router.get("/aggregate")
def metric_aggregate(gateway: GatewayDep, principal: MetricsViewer, site: Site,
                     metric: Metric, line: Line = None, device: Device = None,
                     start: Start = None, end: End = None,
                     aggregate: Aggregate = Aggregate.MEAN) -> AggregateResult:
    """`aggregate(metric)` over the window, per device, and combined for the scope.

    `spread` of a counter is its increase as the energy-carbon engine computes it (rollovers
    only when physical for the register's span and the maximum rate of the catalogue and of
    the device's births, reading errors add nothing, a new meter's start is not consumption;
    quarter-hour by quarter-hour from the readings that bridge the edges, so a window of
    whole quarters is the sum of the engine's quarters before substitution), with each
    device's coverage and flags; the scope's total counts production devices only, never
    the meters that measure them again."""
    scope = _scope(gateway, principal, site, line, device)
    window = _window(gateway, start, end)
    check_window(window, None, gateway.settings.max_points)
    if _by_counter_rules(aggregate, metric):
        read = _readings(gateway, scope, metric, window)
        increases = counter_increases(read.readings, metric, window, _rules(gateway),
                                      read.births, read.events)
        return AggregateResult(metric=metric, aggregate=aggregate, start=window.start,
                               end=window.end, total=counter_total(increases),
                               devices=[DeviceValue(device=i.device, value=i.value,
                                                    coverage=i.coverage, flags=list(i.flags))
                                        for i in increases])
    query = aggregate_query(scope, metric, aggregate, window)
    values = [DeviceValue(device=s.tags.get("device", ""), value=row[1])
              for s in _read(gateway, query.text, query.params)
              for row in s.values if row[1] is not None]
    return AggregateResult(metric=metric, aggregate=aggregate, start=window.start,
                           end=window.end, devices=values,
                           total=combine(aggregate, [v.value for v in values]))
