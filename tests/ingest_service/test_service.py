"""The ingest worker in-process against real Mosquitto and InfluxDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest_service.service import IngestService
from tests.ingest_service.support import (
    Paced,
    Publisher,
    ingest_settings,
    stream,
    telemetry_rows,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_every_sample_is_stored_once_and_acknowledged(services, influx_db: str,
                                                      unique_site: str, tmp_path: Path) -> None:
    settings = ingest_settings(services, influx_db, tmp_path, site=unique_site)
    expected = {(f"m{d}", seq) for d in range(5) for seq in range(200)}
    with IngestService(settings) as service, Publisher(services.mqtt_url) as publisher:
        publisher.publish_all(stream(unique_site, devices=5, messages=200))
        publisher.wait_published()
        wait_for(lambda: len(telemetry_rows(services.influx_url, influx_db, unique_site))
                 >= len(expected), 30, "all points")
        wait_for(lambda: service.stats.unacked == 0, 5, "acknowledgements")
    rows = telemetry_rows(services.influx_url, influx_db, unique_site)
    assert sorted((device, int(power)) for device, _, power in rows) == sorted(expected)
    assert service.stats.messages_in == 1000
    assert not service.stats.dead_letters


def test_a_backlog_is_drained_in_full_batches(services, influx_db: str, unique_site: str,
                                              tmp_path: Path) -> None:
    """1000 messages queued while the worker was away arrive already older than the batch
    delay; they must still be written in batches of up to 500, not one by one."""
    settings = ingest_settings(services, influx_db, tmp_path, site=unique_site,
                               quality_interval_s=60.0)
    with IngestService(settings):
        pass  # the session and its subscription now exist: the broker queues for it
    with Publisher(services.mqtt_url) as publisher:
        publisher.publish_all(stream(unique_site, devices=5, messages=200))
        publisher.wait_published()
    with IngestService(settings) as service:
        wait_for(lambda: service.stats.messages_in >= 1000 and service.stats.unacked == 0, 30,
                 "the backlog")
    assert len(telemetry_rows(services.influx_url, influx_db, unique_site)) == 1000
    assert 2 <= sum(service.stats.batch_latency.counts) <= 10


def test_a_graceful_stop_acknowledges_everything_it_received(
        services, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    """Stopped mid-stream, a worker writes and acknowledges what it holds: its successor
    receives exactly the rest, nothing twice."""
    settings = ingest_settings(services, influx_db, tmp_path, site=unique_site)
    first = IngestService(settings).start()
    with Publisher(services.mqtt_url) as publisher, \
            Paced(publisher, list(stream(unique_site, devices=5, messages=400)), 1000):
        wait_for(lambda: first.stats.messages_in > 300, 20, "the stream to arrive")
        first.stop()
    assert first.stats.unacked == 0 and first.stats.messages_in < 2000
    with IngestService(settings) as second:
        wait_for(lambda: first.stats.messages_in + second.stats.messages_in >= 2000, 30,
                 "the rest of the stream")
        wait_for(lambda: len(telemetry_rows(services.influx_url, influx_db, unique_site))
                 >= 2000, 20, "every point")
    assert first.stats.messages_in + second.stats.messages_in == 2000
