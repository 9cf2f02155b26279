"""Metric queries: parameters bound, identifiers checked, results shaped per scope."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from adapters.influx import QueryFailed, Series, Unavailable
from carbon import Reading
from gateway.core.errors import Invalid
from gateway.core.security import Role
from gateway.metrics import (
    EARLIEST,
    Aggregate,
    Births,
    CounterRules,
    Interval,
    Scope,
    Window,
    aggregate_query,
    births_query,
    check_events,
    check_metric,
    check_window,
    combine,
    counter_buckets,
    counter_increases,
    device_births,
    read_span,
    readings_query,
    series_query,
)
from tests.carbon import test_windows as windows
from tests.carbon.test_windows import gateway_read
from tests.gateway.conftest import Harness, fake_gateway, fake_settings

T0 = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(hours=1))


def test_series_query_binds_every_value() -> None:
    query = series_query(Scope("zz", "l1", "d1"), "power_kw", Aggregate.MEAN, WINDOW,
                         Interval.FIVE_MINUTES)
    assert query.text == (
        'SELECT mean("power_kw") AS "value" FROM "telemetry" WHERE "site" = $site AND '
        '"line" = $line AND "device" = $device AND time >= $start AND time < $end '
        'GROUP BY time(5m), "device" fill(none)')
    assert query.params == {"site": "zz", "line": "l1", "device": "d1",
                            "start": "2026-11-01T00:00:00Z", "end": "2026-11-01T01:00:00Z"}


def test_site_aggregate_has_no_line_or_device_condition() -> None:
    query = aggregate_query(Scope("zz"), "energy_kwh", Aggregate.SPREAD, WINDOW)
    assert '"line"' not in query.text and query.text.endswith('GROUP BY "device"')
    assert set(query.params) == {"site", "start", "end"}


@given(st.text(max_size=80))
def test_user_text_never_reaches_the_query_unchecked(name: str) -> None:
    try:
        query = aggregate_query(Scope("zz"), name, Aggregate.MEAN, WINDOW)
    except Invalid:
        return
    template = aggregate_query(Scope("zz"), "power_kw", Aggregate.MEAN, WINDOW).text
    assert query.text == template.replace('"power_kw"', f'"{name}"')
    assert re.fullmatch(r"[a-z][a-z0-9_]*", name)


@pytest.mark.parametrize("name", ["state", "material", "DROP", "x_", "power_kw; DROP"])
def test_state_and_unknown_metrics_are_refused(name: str) -> None:
    with pytest.raises(Invalid):
        check_metric(name)


def test_window_limits() -> None:
    check_window(WINDOW, Interval.ONE_MINUTE, 60)
    with pytest.raises(Invalid):
        check_window(WINDOW, Interval.ONE_MINUTE, 59)
    with pytest.raises(Invalid):
        check_window(Window(T0, T0), None, 10)


@pytest.mark.parametrize(("aggregate", "expected"), [
    (Aggregate.SUM, 6.0), (Aggregate.SPREAD, 6.0), (Aggregate.COUNT, 6.0),
    (Aggregate.MEAN, 2.0), (Aggregate.MIN, 1.0), (Aggregate.MAX, 3.0), (Aggregate.LAST, None)])
def test_combine(aggregate: Aggregate, expected: float | None) -> None:
    assert combine(aggregate, [1.0, 2.0, 3.0]) == expected
    assert combine(aggregate, []) is None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_series_endpoint_shapes_points_per_device(gw: Harness) -> None:
    gw.reader.series = [Series("telemetry", {"device": "d1"}, ["time", "value"],
                               [[_ms(T0), 1.5], [_ms(T0) + 300_000, None]]),
                        Series("telemetry", {"device": "d2"}, ["time", "value"],
                               [[_ms(T0), 2.5]])]
    response = gw.client.get(
        "/v1/metrics/series", headers=gw.auth(Role.AUDITOR),
        params={"site": "zz", "line": "l1", "metric": "power_kw", "every": "5m",
                "start": "2026-11-01T00:00:00Z", "end": "2026-11-01T01:00:00+00:00"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["series"] == [
        {"device": "d1", "points": [{"time": "2026-11-01T00:00:00Z", "value": 1.5}]},
        {"device": "d2", "points": [{"time": "2026-11-01T00:00:00Z", "value": 2.5}]}]
    _, params = gw.reader.queries[-1]
    assert params == {"site": "zz", "line": "l1", "start": "2026-11-01T00:00:00Z",
                      "end": "2026-11-01T01:00:00Z"}


def test_aggregate_endpoint_defaults_to_the_last_hour(gw: Harness) -> None:
    gw.reader.series = [Series("telemetry", {"device": "d1"}, ["time", "value"], [[0, 4.0]]),
                        Series("telemetry", {"device": "d2"}, ["time", "value"], [[0, 6.0]])]
    response = gw.client.get("/v1/metrics/aggregate", headers=gw.auth(Role.OPERATOR),
                             params={"site": "zz", "metric": "power_kw", "aggregate": "sum"})
    body = response.json()
    assert body["total"] == 10.0 and len(body["devices"]) == 2
    end = datetime.fromisoformat(body["end"])
    assert _ms(end) == gw.clock.now
    assert end - datetime.fromisoformat(body["start"]) == timedelta(hours=1)


@pytest.mark.parametrize(("params", "status"), [
    ({"site": "zz", "metric": "state"}, 422),
    ({"site": "zz", "metric": "power_kw", "device": "d1"}, 422),
    ({"site": "zz", "metric": "power_kw", "every": "1m", "start": "2026-01-01T00:00:00Z",
      "end": "2026-11-01T00:00:00Z"}, 422),
    ({"site": "Z Z", "metric": "power_kw"}, 422),
    ({"site": "zz", "metric": "power_kw", "aggregate": "median"}, 422),
    ({"site": "zz", "metric": "power_kw", "end": "0001-01-01T00:00:00Z"}, 422),
    ({"site": "zz", "metric": "power_kw", "end": "0001-01-01T00:00:00+01:00"}, 422),
    ({"site": "zz", "metric": "power_kw", "start": "1969-12-31T00:00:00Z",
      "end": "1970-01-02T00:00:00Z"}, 422),
    ({"site": "zz", "metric": "power_kw", "end": "9999-12-31T23:59:59Z"}, 422),
])
def test_bad_parameters_are_422_problems(gw: Harness, params: dict[str, str],
                                         status: int) -> None:
    response = gw.client.get("/v1/metrics/series", headers=gw.auth(Role.ADMIN), params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert gw.reader.queries == []


def test_influx_errors_become_problems(gw: Harness) -> None:
    params = {"site": "zz", "metric": "x_custom"}
    gw.reader.error = QueryFailed("unsupported mean iterator type")
    assert gw.client.get("/v1/metrics/aggregate", headers=gw.auth(Role.ADMIN),
                         params=params).status_code == 422
    gw.reader.error = Unavailable("connection refused")
    assert gw.client.get("/v1/metrics/aggregate", headers=gw.auth(Role.ADMIN),
                         params=params).status_code == 503


def test_equipment_makers_read_only_their_own_devices(gw: Harness) -> None:
    device = {"site": "zz", "line": "l1", "device": "d1", "device_type": "belt_scale"}
    gw.client.post("/v1/devices", json=device, headers=gw.auth(Role.EQUIPMENT_MAKER))
    own = {"site": "zz", "line": "l1", "device": "d1", "metric": "rate_tph"}
    maker = gw.auth(Role.EQUIPMENT_MAKER)
    assert gw.client.get("/v1/metrics/series", headers=maker, params=own).status_code == 200
    _, other = gw.new_token(Role.EQUIPMENT_MAKER)
    assert gw.client.get("/v1/metrics/series", headers=other, params=own).status_code == 403
    site = {"site": "zz", "metric": "rate_tph"}
    assert gw.client.get("/v1/metrics/aggregate", headers=maker, params=site).status_code == 403


def _counter(device: str, kind: str, values: list[tuple[int, float]]) -> Series:
    return Series("telemetry", {"device": device, "device_type": kind, "line": "l1"},
                  ["time", "value"], [[t * 60_000, v] for t, v in values])


def test_counter_spread_follows_the_engines_rules_and_hierarchy(gw: Harness) -> None:
    # The main meter rolls over at 10^8 (99,999,990 -> 12: 22 kWh, physical for a 100 MW
    # meter); the crusher it measures counts 30 kWh but steps back once (a reading error,
    # nothing added). The site total is the crusher's: the meter measures it again.
    gw.reader.series = [
        _counter("main-meter", "electricity_meter", [(0, 99_999_990.0), (1, 12.0)]),
        _counter("crusher", "crusher_station", [(0, 500.0), (1, 515.0), (2, 514.0),
                                                 (3, 530.0)])]
    body = gw.client.get("/v1/metrics/aggregate", headers=gw.auth(Role.OPERATOR),
                         params={"site": "zz", "metric": "energy_kwh", "aggregate": "spread",
                                 "start": "1970-01-01T00:00:00Z",
                                 "end": "1970-01-01T00:03:00Z"}).json()
    assert {d["device"]: (d["value"], d["coverage"]) for d in body["devices"]} == {
        "main-meter": (22.0, pytest.approx(1 / 3)), "crusher": (30.0, 1.0)}
    flags = {d["device"]: d["flags"] for d in body["devices"]}
    assert flags == {"main-meter": ["rollover_inferred", "uncovered"],
                     "crusher": ["counter_backwards"]}
    assert body["total"] == 30.0
    text, params = gw.reader.queries[-1]
    assert text.startswith('SELECT last("energy_kwh") AS "value"')
    assert params is not None and params["before"] == "1970-01-01T00:00:00Z"  # not earlier


def test_counter_series_follows_the_engines_rules_per_bucket(gw: Harness) -> None:
    # The same registers as above, in 5-minute buckets: the main meter's rollover (minute
    # 4 to 6) counts 22 kWh in proportion to its time in each bucket; the crusher's step
    # back adds nothing, and its reading at minute 6 counts from 515 (minute 1), not from
    # the erroneous 514: 15 kWh over 5 minutes, 12 in the first bucket.
    gw.reader.series = [
        _counter("main-meter", "electricity_meter", [(4, 99_999_990.0), (6, 12.0)]),
        _counter("crusher", "crusher_station", [(0, 500.0), (1, 515.0), (4, 514.0),
                                                 (6, 530.0)])]
    params = {"site": "zz", "metric": "energy_kwh", "aggregate": "spread", "every": "5m",
              "start": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:10:00Z"}
    body = gw.client.get("/v1/metrics/series", headers=gw.auth(Role.OPERATOR),
                         params=params).json()
    assert {s["device"]: [(p["time"], p["value"]) for p in s["points"]]
            for s in body["series"]} == {
        "main-meter": [("1970-01-01T00:00:00Z", 11.0), ("1970-01-01T00:05:00Z", 11.0)],
        "crusher": [("1970-01-01T00:00:00Z", 27.0), ("1970-01-01T00:05:00Z", 3.0)]}
    (counted, _), (births, _), (events, _), (read, _) = gw.reader.queries
    assert counted.startswith('SELECT count("energy_kwh") AS "value"')
    assert births.startswith('SELECT * FROM "device_lifecycle"')
    assert events.startswith('SELECT * FROM "device_event"')
    assert read.startswith('SELECT last("energy_kwh") AS "value"')


def test_declared_counter_events_are_honoured_as_the_engine_honours_them(gw: Harness) -> None:
    # Both crushers' registers drop from 800 to 5 at minute 6. The crusher declared a reset
    # at minute 5 (final 812, restarting at 0): 2 kWh more before it, 5 after. The mill
    # declared nothing: an undeclared restart, the amount across it unknown.
    readings = [(0, 790.0), (4, 810.0), (6, 5.0), (7, 9.0), (10, 20.0)]
    gw.reader.series = [_counter("crusher", "crusher_station", readings),
                        _counter("mill", "crusher_station", readings)]
    gw.reader.events = [Series("device_event", {"line": "l1", "device": "crusher"},
                               ["time", "event", "metric", "value_old_final",
                                "value_new_initial"],
                               [[5 * MIN, "counter_reset", "energy_kwh", 812.0, 0.0]])]
    params = {"site": "zz", "metric": "energy_kwh", "aggregate": "spread",
              "start": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:10:00Z"}
    body = gw.client.get("/v1/metrics/aggregate", headers=gw.auth(Role.OPERATOR),
                         params=params).json()
    values = {d["device"]: d["value"] for d in body["devices"]}
    assert values == {"crusher": 20 + 2 + 5 + 4 + 11, "mill": 20 + 4 + 11}
    flags = {d["device"]: d["flags"] for d in body["devices"]}
    assert "reset" in flags["crusher"] and "reset_undeclared" in flags["mill"]
    (_, _), (_, _), (text, bound), (_, _) = gw.reader.queries
    assert text.endswith('GROUP BY "line", "device" LIMIT 1001')
    assert bound == {"site": "zz", "start": "1970-01-01T00:00:00Z",
                     "end": "1970-01-02T00:15:00Z"}


def test_a_device_with_more_counter_events_than_the_bound_is_refused() -> None:
    rows = [Series("device_event", {"line": "l1", "device": "crusher"}, ["time", "event"],
                   [[k, "clock_adjusted"] for k in range(4)])]
    assert check_events(rows, 4) == rows
    with pytest.raises(Invalid, match="more than 3 counter events"):
        check_events(rows, 3)


def test_spread_of_a_gauge_stays_in_influxql(gw: Harness) -> None:
    gw.reader.series = [Series("telemetry", {"device": "d1"}, ["time", "value"],
                               [[0, 3.0]])]
    gw.client.get("/v1/metrics/series", headers=gw.auth(Role.OPERATOR),
                  params={"site": "zz", "metric": "power_kw", "aggregate": "spread"})
    [(text, _)] = gw.reader.queries
    assert text.startswith('SELECT spread("power_kw") AS "value"')


@pytest.mark.parametrize("path", ["/v1/metrics/series", "/v1/metrics/aggregate"])
def test_a_counter_window_with_too_many_readings_is_refused(tmp_path: Path,
                                                            path: str) -> None:
    fake = fake_gateway(tmp_path / "gateway.sqlite", settings=fake_settings(max_readings=3))
    fake.reader.series = [_counter("crusher", "crusher_station", [(0, 1.0), (1, 2.0)]),
                          _counter("mill", "crusher_station", [(0, 1.0), (1, 2.0)])]
    _, token = fake.records[Role.OPERATOR]
    with TestClient(fake.app, raise_server_exceptions=False) as client:
        response = client.get(path, headers={"Authorization": f"Bearer {token}"},
                              params={"site": "zz", "metric": "input_t",
                                      "aggregate": "spread"})
    fake.registry.close()
    assert response.status_code == 422
    assert "4 readings" in response.json()["detail"]
    assert [q for q, _ in fake.reader.queries] == [fake.reader.queries[0][0]]  # count only


_READINGS = st.lists(st.tuples(st.integers(0, 7_200), st.integers(0, 2_000_000)),
                     min_size=1, max_size=60)


@given(st.lists(_READINGS, min_size=1, max_size=3), st.sampled_from(list(Interval)),
       st.integers(-900, 7_200), st.integers(1, 7_200))
def test_buckets_add_up_to_the_aggregate(registers: list[list[tuple[int, int]]],
                                         every: Interval, start_s: int, length_s: int) -> None:
    """Whatever the readings (rollovers, steps back, restarts, repeats) and the window, each
    device's buckets on /series add up to its spread on /aggregate."""
    series = [Series("telemetry", {"device": f"d{i}", "device_type": "electricity_meter"},
                     ["time", "value"], [[t * 1000, v / 10] for t, v in readings])
              for i, readings in enumerate(registers)]
    start = EARLIEST + timedelta(seconds=max(start_s, 0))
    window = Window(start, start + timedelta(seconds=length_s))
    spreads = {i.device: i.value for i in counter_increases(series, "energy_kwh", window)}
    for buckets in counter_buckets(series, "energy_kwh", window, every):
        assert math.isclose(math.fsum(v for _, v in buckets.points), spreads[buckets.device],
                            rel_tol=1e-12, abs_tol=1e-9)
        assert all(v >= 0 for _, v in buckets.points)


def test_a_counter_is_read_over_whole_quarter_hours_with_the_readings_that_bridge_them(
) -> None:
    window = Window(T0 + timedelta(minutes=7), T0 + timedelta(minutes=50))
    span = read_span(window)
    assert span == Window(T0, T0 + timedelta(hours=1))
    assert read_span(span) == span
    query = readings_query(Scope("zz", "l1"), "energy_kwh", span, CounterRules(3_600_000))
    where = 'FROM "telemetry" WHERE "site" = $site AND "line" = $line'
    group = 'GROUP BY "device", "device_type", "line"'
    assert query.text == (
        f'SELECT last("energy_kwh") AS "value" {where} AND time >= $before AND time < $start '
        f'{group}; SELECT "energy_kwh" AS "value" {where} AND time >= $start AND time < $end '
        f'{group}; SELECT first("energy_kwh") AS "value" {where} AND time >= $end AND '
        f"time < $after {group}")
    assert query.params == {"site": "zz", "line": "l1", "start": "2026-11-01T00:00:00Z",
                            "end": "2026-11-01T01:00:00Z", "before": "2026-10-31T23:00:00Z",
                            "after": "2026-11-01T02:00:00Z"}


def test_births_query_binds_every_value_and_reads_the_last_birth_before_the_window() -> None:
    query = births_query(Scope("zz", "l1"), WINDOW, 50)
    where = ('FROM "device_lifecycle" WHERE "site" = $site AND "line" = $line AND '
             '"event" = $event')
    assert query.text == (
        f'SELECT * {where} AND time < $start GROUP BY "line", "device" '
        "ORDER BY time DESC LIMIT 1; "
        f'SELECT * {where} AND time >= $start AND time < $end GROUP BY "line", "device" '
        "LIMIT 51")
    assert query.params == {"site": "zz", "line": "l1", "event": "birth",
                            "start": "2026-11-01T00:00:00Z", "end": "2026-11-01T01:00:00Z"}


CRUSHER_KW = 2000  # a crusher station's power_kw maximum in the catalogue
TOP = 1_000_000  # the register size a reading near 10^6 rolls at
MIN = 60_000
T0_MS = _ms(WINDOW.start)


def _birth_rows(device: str, births: list[tuple[int, float | None]]) -> Series:
    """`device_lifecycle` rows as InfluxDB returns them (ms), a declared max_power_kw each."""
    return Series("device_lifecycle", {"line": "l1", "device": device},
                  ["time", "device_type", "event", "max_power_kw", "session"],
                  [[ts, "crusher_station", "birth", kw, 1] for ts, kw in births])


@given(st.data(), st.integers(1, CRUSHER_KW - 1), st.integers(1, 5),
       st.integers(1, 10 * 24 * 3_600_000), st.sampled_from(list(Interval)))
def test_a_drop_the_declared_maximum_rules_out_adds_nothing_through_the_gateway(
        data: st.DataObject, declared_kw: int, minutes: int, born_before: int,
        every: Interval) -> None:
    """A crusher's kWh register drops from just below 10^6 to a small value: the catalogue's
    2,000 kW allows a rollover; a birth declaring less than the implied rate rules it out,
    so it adds nothing on /aggregate and /series (births read from lifecycle rows)."""
    # The rate check runs over at least 10 minutes with a slack of 1.5 (carbon.counters):
    # kW x min / 60 x 1.5 kWh, in Wh: kW x min x 25.
    window_min = max(minutes, 10)
    implied = Decimal(data.draw(st.integers(declared_kw * window_min * 25 + 1,
                                            CRUSHER_KW * window_min * 25))) / 1000
    below_top = Decimal(data.draw(st.integers(1, int(min(implied, Decimal(1000)) * 1000)))) / 1000
    # A minute's consumption before the drop that even the declared maximum allows.
    rise = Decimal(data.draw(st.integers(0, declared_kw * 250))) / 1000
    start = T0_MS + MIN
    values = [(T0_MS, TOP - below_top - rise), (start, TOP - below_top),
              (start + minutes * MIN, implied - below_top)]
    series = [Series("telemetry", {"device": "crusher", "device_type": "crusher_station",
                                   "line": "l1"}, ["time", "value"],
                     [[t, float(v)] for t, v in values])]
    births = device_births([_birth_rows("crusher", [(start - born_before, declared_kw)])],
                           WINDOW, 10)

    def spread(found: Births | None) -> tuple[float, float]:
        [increase] = counter_increases(series, "energy_kwh", WINDOW, births=found)
        [buckets] = counter_buckets(series, "energy_kwh", WINDOW, every, births=found)
        return increase.value, math.fsum(v for _, v in buckets.points)

    assert spread(None) == pytest.approx((float(rise + implied),) * 2)
    assert spread(births) == pytest.approx((float(rise),) * 2)
    [judged] = counter_increases(series, "energy_kwh", WINDOW, births=births)
    assert "rollover_inferred" not in judged.flags
    # A birth after the drop's interval began does not judge it: the catalogue does.
    later = device_births([_birth_rows("crusher", [(start + 1, declared_kw)])], WINDOW, 10)
    assert spread(later) == pytest.approx((float(rise + implied),) * 2)


def test_a_birth_declaring_no_maximum_or_more_than_the_catalogue_leaves_its_bound() -> None:
    series = [_counter("crusher", "crusher_station", [(0, 999_990.0), (5, 10.0)])]
    for declared in (None, 5_000.0):
        births = device_births([_birth_rows("crusher", [(0, declared)])], WINDOW, 10)
        window = Window(EARLIEST, EARLIEST + timedelta(minutes=15))
        assert counter_increases(series, "energy_kwh", window, births=births)[0].value == 20.0


def test_births_are_read_per_request_and_bound_the_spread(gw: Harness) -> None:
    # The same drop on two crushers; one declared 50 kW in its birth before the window:
    # 20 kWh in 5 minutes (judged over 10 at 1.5 x 50 kW: 12.5 kWh) is no rollover for it.
    gw.reader.series = [
        _counter("crusher", "crusher_station", [(0, 999_990.0), (5, 10.0), (10, 12.0)]),
        _counter("mill", "crusher_station", [(0, 999_990.0), (5, 10.0), (10, 12.0)])]
    gw.reader.lifecycle = [_birth_rows("crusher", [(-MIN, 50.0)])]
    params = {"site": "zz", "line": "l1", "metric": "energy_kwh", "aggregate": "spread",
              "start": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:15:00Z"}
    body = gw.client.get("/v1/metrics/aggregate", headers=gw.auth(Role.OPERATOR),
                         params=params).json()
    assert {d["device"]: d["value"] for d in body["devices"]} == {"crusher": 2.0, "mill": 22.0}
    series = gw.client.get("/v1/metrics/series", headers=gw.auth(Role.OPERATOR),
                           params={**params, "every": "5m"}).json()["series"]
    # No bucket for the crusher's first 5 minutes (the amount across its restart is
    # unknown) nor for anyone's last 5 (no reading after 00:10 reaches them).
    assert {s["device"]: [(p["time"], p["value"]) for p in s["points"]] for s in series} == {
        "crusher": [("1970-01-01T00:05:00Z", 2.0)],
        "mill": [("1970-01-01T00:00:00Z", 20.0), ("1970-01-01T00:05:00Z", 2.0)]}
    births = [(q, p) for q, p in gw.reader.queries if "device_lifecycle" in q]
    assert len(births) == 2  # one query per request
    # The births that judge every reading read: the engine's horizon (a day) around.
    assert all(p == {"site": "zz", "line": "l1", "event": "birth",
                     "start": "1970-01-01T00:00:00Z", "end": "1970-01-02T00:15:00Z"}
               for _, p in births)


def test_a_device_born_more_often_than_the_bound_in_the_window_is_refused() -> None:
    rows = [_birth_rows("crusher", [(T0_MS - 1, 50.0), *((T0_MS + k, 50.0) for k in range(3))])]
    assert len(device_births(rows, WINDOW, 3)[("l1", "crusher")]) == 4
    with pytest.raises(Invalid, match="born more than 2 times"):
        device_births(rows, WINDOW, 2)


def _as_read(readings: list[Reading], window: Window) -> list[Series]:
    """What InfluxDB returns to `readings_query` for the window's `read_span`: the
    readings of its quarter-hours and those that bridge them within the engine's horizon."""
    span = read_span(window)
    read = gateway_read(readings, (_ms(span.start), _ms(span.end)), CounterRules().horizon_ms)
    return [Series("telemetry", {"device": "crusher", "device_type": "crusher_station",
                                 "line": "l1"}, ["time", "value"],
                   [[r.ts, float(r.value)] for r in read])]


def _spread(readings: list[Reading], start_ms: int, end_ms: int) -> float:
    window = Window(EARLIEST + timedelta(milliseconds=start_ms),
                    EARLIEST + timedelta(milliseconds=end_ms))
    found = counter_increases(_as_read(readings, window), "energy_kwh", window)
    return found[0].value if found else 0.0


@given(windows.registers(), st.lists(st.integers(0, 4 * 3_600), min_size=3, max_size=5,
                                     unique=True))
def test_the_gateways_spreads_add_up_across_windows_and_are_the_engines_quarters(
        readings: list[Reading], cuts_s: list[int]) -> None:
    """A counter's spread on consecutive windows (cut anywhere) adds up to the spread on
    their union, each read as the gateway reads it; and a quarter's spread is the engine's
    own figure for the register, less what it substitutes for uncovered time."""
    readings = [Reading(r.ts, r.value.quantize(Decimal(1))) for r in readings]  # floats
    first = min(r.ts for r in readings)
    cuts = sorted(first + c * 1000 for c in cuts_s)
    parts = [_spread(readings, a, b) for a, b in pairwise(cuts)]
    assert math.isclose(math.fsum(parts), _spread(readings, cuts[0], cuts[-1]),
                        rel_tol=1e-9, abs_tol=1e-6)
    quarter = cuts[0] - cuts[0] % windows.QUARTER
    amount, filled, _ = windows.engine(readings, (quarter, quarter + windows.QUARTER),
                                       CounterRules().horizon_ms)
    assert math.isclose(_spread(readings, quarter, quarter + windows.QUARTER),
                        float(amount - filled), rel_tol=1e-9, abs_tol=1e-6)
