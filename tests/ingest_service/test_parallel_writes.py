"""Writes in parallel parts against the real InfluxDB: every point once, refusals isolated."""

from __future__ import annotations

import pytest

from adapters.backoff import Backoff
from adapters.clock import SystemClock
from adapters.influx import InfluxSettings, PointWriter
from ingest_service.policy import ConcurrentWriter, WritePolicy
from loopmeter.services import LocalServices
from tests.servers import influx_query

pytestmark = pytest.mark.integration
T0 = 1_790_000_000_000


def test_parallel_parts_store_every_point_once_and_isolate_a_refused_one(
        services: LocalServices, influx_db: str) -> None:
    lines = [f"telemetry,device=d{i % 7} power_kw={i} {T0 + i}" for i in range(4000)]
    conflicting = f'telemetry,device=d3 power_kw="text" {T0 + 5000}'  # a string in a float field
    lines.insert(3100, conflicting)
    with PointWriter(InfluxSettings(url=services.influx_url, database=influx_db)) as point_writer:
        point_writer.write_lines(lines[:1])  # fixes the field's type as float
        writer = ConcurrentWriter(point_writer, parts=4)
        try:
            policy = WritePolicy(writer, SystemClock(), Backoff.exact(0.1, 1.0), max_throttle_s=1.0)
            rejected = policy.deliver(lines, patience_s=5.0)
        finally:
            writer.close()
    assert [r.line for r in rejected] == [conflicting]
    assert rejected[0].status == 400 and "conflict" in rejected[0].message
    [result] = influx_query(services, 'SELECT count("power_kw"), sum("power_kw") FROM telemetry',
                            db=influx_db)
    [[_, count, total]] = result["series"][0]["values"]
    assert (count, total) == (4000, sum(range(4000)))
