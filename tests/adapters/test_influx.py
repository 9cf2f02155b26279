"""The InfluxDB adapter against the real server behind the /api/v2/write route."""

from __future__ import annotations

import pytest

from adapters.influx import (
    InfluxQL,
    InfluxSettings,
    PointWriter,
    QueryFailed,
    Unavailable,
    WriteRejected,
    classify_write_error,
)
from contract import Point
from loopmeter.services import LocalServices

pytestmark = pytest.mark.integration
T0 = 1_790_000_000_000


@pytest.fixture
def settings(services: LocalServices, influx_db: str) -> InfluxSettings:
    return InfluxSettings(url=services.influx_url, database=influx_db)


def test_points_round_trip_with_bound_parameters(settings: InfluxSettings) -> None:
    points = [Point("telemetry", (("site", "s"), ("device", d)), {"power_kw": float(i),
                    "state": "running"}, T0 + i) for i, d in enumerate(["a b", "c,d", "a b"])]
    with PointWriter(settings) as writer:
        writer.write(points)
    with InfluxQL(settings) as reader:
        series = reader.query('SELECT power_kw, state FROM telemetry WHERE device = $d',
                              params={"d": "a b"})
        injected = reader.query("SELECT * FROM telemetry WHERE device = $d",
                                params={"d": "x' OR device =~ /.*/ --"})
    assert [r["time"] for r in series[0].records()] == [T0, T0 + 2]
    assert [r["power_kw"] for r in series[0].records()] == [0.0, 2.0]
    assert injected == []


def test_a_malformed_line_is_rejected_with_the_servers_reason(settings: InfluxSettings) -> None:
    with PointWriter(settings) as writer, pytest.raises(WriteRejected) as caught:
        writer.write_lines(["telemetry,site=s power_kw=1 1", "not line protocol at all"])
    assert caught.value.status == 400
    assert "unable to parse" in caught.value.message


def test_a_field_type_conflict_is_rejected(settings: InfluxSettings) -> None:
    with PointWriter(settings) as writer:
        writer.write_lines([f"m f=1 {T0}"])
        with pytest.raises(WriteRejected, match="conflict"):
            writer.write_lines([f'm f="text" {T0 + 1}'])


def test_an_unreachable_server_is_unavailable(settings: InfluxSettings) -> None:
    dead = settings.model_copy(update={"url": "http://127.0.0.1:9", "timeout_s": 2})
    with PointWriter(dead) as writer, pytest.raises(Unavailable):
        writer.write_lines([f"m f=1 {T0}"])
    with InfluxQL(dead) as reader, pytest.raises(Unavailable):
        reader.query("SHOW DATABASES")
    with InfluxQL(dead) as reader:
        assert not reader.ping()


def test_a_bad_query_fails_with_the_servers_message(settings: InfluxSettings) -> None:
    with InfluxQL(settings) as reader, pytest.raises(QueryFailed, match="error parsing query"):
        reader.query("SELEKT nothing")


@pytest.mark.parametrize(("status", "kind"), [(400, "WriteRejected"), (422, "WriteRejected"),
                                               (413, "BatchTooLarge"), (429, "Throttled"),
                                               (503, "Throttled"), (500, "Unavailable"),
                                               (502, "Unavailable")])
def test_write_errors_are_classified_by_status(status: int, kind: str) -> None:
    error = classify_write_error(status, b'{"code":"x","message":"why"}', {"Retry-After": "7"})
    assert type(error).__name__ == kind
    if kind == "Throttled":
        assert error.retry_after_s == 7.0  # type: ignore[attr-defined]
