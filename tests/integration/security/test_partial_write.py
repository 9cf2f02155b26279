"""A write that InfluxDB refuses in part costs only the refused lines (real InfluxDB 1.6)."""

from __future__ import annotations

import pytest

from adapters.clock import SystemClock
from adapters.influx import InfluxQL, InfluxSettings, PointWriter
from ingest_service.policy import ConcurrentWriter, write_policy
from ingest_service.settings import RetrySettings
from loopmeter.services import LocalServices

pytestmark = pytest.mark.integration


def test_a_field_type_conflict_is_isolated_to_its_line(services: LocalServices,
                                                       influx_db: str) -> None:
    settings = InfluxSettings(url=services.influx_url, database=influx_db, timeout_s=5)
    writer = PointWriter(settings)
    base = SystemClock().now_ms() - 60_000
    try:
        writer.write_lines([f"m,device=a f=\"text\" {base}"])  # `f` is now a string field
        lines = [f"m,device=b f={i}.5 {base + i}" if i == 7 else f"m,device=b g={i} {base + i}"
                 for i in range(20)]
        policy = write_policy(ConcurrentWriter(writer, 2), SystemClock(), RetrySettings())
        rejected = policy.deliver(lines, 5.0)
    finally:
        writer.close()
    assert [r.line for r in rejected] == [lines[7]]
    assert rejected[0].status == 400 and "conflict" in rejected[0].message
    reader = InfluxQL(settings)
    try:
        (series,) = reader.query('SELECT "g" FROM "m" WHERE "device" = \'b\'')
    finally:
        reader.close()
    assert len(series.values) == 19
