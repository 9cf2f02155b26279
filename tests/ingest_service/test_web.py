"""/metrics and /healthz of one worker, served from its Stats on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.ops_http import OpsServer
from ingest_service.stats import Stats
from ingest_service.web import stats_registry

pytestmark = pytest.mark.integration


@pytest.fixture
def served() -> Iterator[tuple[Stats, dict[str, object], str]]:
    stats = Stats(messages_in=12, points_written=240, spool_points=7, unacked=3)
    stats.dead_letters.update({"schema": 2, "invalid_json": 1})
    stats.batch_latency.observe(0.03)
    stats.delayed(0.2)
    health: dict[str, object] = {"ok": True}
    server = OpsServer("127.0.0.1", 0, stats_registry(stats, 4), lambda: health)
    server.start()
    yield stats, health, f"http://127.0.0.1:{server.port}"
    server.stop()


def test_metrics_are_the_stats_in_prometheus_text(served: tuple[Stats, dict[str, object],
                                                                str]) -> None:
    _, _, url = served
    text = httpx.get(f"{url}/metrics").text
    for line in ('ingest_messages_total{worker="4"} 12.0',
                 'ingest_points_written_total{worker="4"} 240.0',
                 'ingest_dead_letters_total{reason="schema",worker="4"} 2.0',
                 'ingest_dead_letters_total{reason="invalid_json",worker="4"} 1.0',
                 'ingest_spool_depth_points{worker="4"} 7.0',
                 'ingest_consumer_lag_messages{worker="4"} 3.0',
                 'ingest_batch_latency_seconds_bucket{le="0.05",worker="4"} 1.0',
                 'ingest_batch_latency_seconds_count{worker="4"} 1.0',
                 'ingest_end_to_end_seconds_bucket{le="0.25",worker="4"} 1.0'):
        assert line in text, line


def test_healthz_answers_503_when_unhealthy(served: tuple[Stats, dict[str, object],
                                                          str]) -> None:
    _, health, url = served
    assert httpx.get(f"{url}/healthz").status_code == 200
    health["ok"] = False
    response = httpx.get(f"{url}/healthz")
    assert response.status_code == 503 and response.json() == {"ok": False}
    assert httpx.get(f"{url}/nothing").status_code == 404
