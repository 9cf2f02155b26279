"""Nothing lost, nothing duplicated: agents, broker, ingest and InfluxDB under faults.

The fast run is part of `make test`; the long one (`make chaos`) is marked `chaos` and runs
only when asked for (`pytest -m chaos`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from loopmeter.services import LocalServices
from tests.integration.chaos import ChaosPlan, run_burst, run_chaos


@pytest.mark.integration
def test_broker_and_ingest_killed_and_influxdb_stopped_lose_and_duplicate_nothing(
        services: LocalServices, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    result = run_chaos(services, influx_db, unique_site, tmp_path, ChaosPlan())
    assert result.produced > 1000 and result.dropped == {}
    assert (result.lost, result.duplicated) == (0, 0), result
    assert min(result.kill_after_puback_ms) < 50, result.kill_after_puback_ms


LONG = ChaosPlan(agents=10, period_s=0.05, produce_s=300.0, workers=2,
                 broker_kills=(40.0, 120.0, 230.0), ingest_kills=(25.0, 70.0, 150.0, 200.0, 260.0),
                 influx_outage=(90.0, 30.0), confirm_timeout_s=20.0, drain_timeout_s=300.0)


@pytest.mark.chaos
@pytest.mark.integration
@pytest.mark.timeout(900)
def test_the_long_chaos_run(services: LocalServices, influx_db: str, unique_site: str,
                            tmp_path: Path) -> None:
    result = run_chaos(services, influx_db, unique_site, tmp_path, LONG)
    figures = {"samples": result.produced, "stored": result.stored, "lost": result.lost,
               "duplicated": result.duplicated, "data_messages_sent": result.attempts,
               "resent_unconfirmed": result.resent, "dropped": result.dropped,
               "broker_killed_ms_after_puback": [round(g, 1) for g in
                                                 result.kill_after_puback_ms],
               "seconds": round(result.seconds)}
    print("chaos figures:", json.dumps(figures))
    if report := os.environ.get("LOOPMETER_CHAOS_REPORT"):
        Path(report).write_text(json.dumps(figures, indent=2) + "\n")
    assert result.produced >= 50_000 and result.dropped == {}
    assert (result.lost, result.duplicated) == (0, 0), figures


@pytest.mark.chaos
@pytest.mark.integration
@pytest.mark.timeout(900)
def test_twenty_agents_replaying_a_ten_minute_backlog_at_once_lose_nothing(
        services: LocalServices, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    result = run_burst(services, influx_db, unique_site, tmp_path, agents=20, backlog_s=600,
                       hz=10, timeout_s=600)
    figures = {"burst_samples": result.produced, "stored": result.stored, "lost": result.lost,
               "duplicated": result.duplicated, "resent_unconfirmed": result.resent,
               "dropped": result.dropped, "seconds": round(result.seconds)}
    print("burst figures:", json.dumps(figures))
    assert result.dropped == {}
    assert (result.lost, result.duplicated) == (0, 0), figures
