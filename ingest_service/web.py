"""The Prometheus metrics of one ingest worker, collected from its `Stats` at each scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ingest_service.stats import Stats


class StatsCollector(Collector):
    """Reads the pipeline's Stats at scrape time; `worker` labels every series."""

    def __init__(self, stats: Stats, worker: int) -> None:
        self._stats = stats
        self._worker = str(worker)

    def collect(self) -> Iterator[Metric]:
        stats, worker = self._stats, [self._worker]
        yield _counter("ingest_messages", "MQTT messages received.", stats.messages_in, worker)
        yield _counter("ingest_points_written", "Points stored in InfluxDB.",
                       stats.points_written, worker)
        yield _counter("ingest_points_spooled", "Points written to the on-disk spool.",
                       stats.points_spooled, worker)
        letters = CounterMetricFamily("ingest_dead_letters", "Messages and points dead-lettered, "
                                      "by reason.", labels=["worker", "reason"])
        for reason, count in sorted(stats.dead_letters.items()):
            letters.add_metric([self._worker, reason], count)
        yield letters
        latency = HistogramMetricFamily("ingest_batch_latency_seconds", "From a batch's first "
                                        "message to its acknowledgement.", labels=["worker"])
        latency.add_metric(worker, stats.batch_latency.cumulative(), stats.batch_latency.total)
        yield latency
        delay = HistogramMetricFamily("ingest_end_to_end_seconds", "From the newest sample of a "
                                      "live data message to its acknowledgement.",
                                      labels=["worker"])
        delay.add_metric(worker, stats.end_to_end.cumulative(), stats.end_to_end.total)
        yield delay
        yield _gauge("ingest_spool_depth_points", "Points waiting in the spool.",
                     stats.spool_points, worker)
        yield _gauge("ingest_spool_depth_batches", "Batches waiting in the spool.",
                     stats.spool_batches, worker)
        yield _gauge("ingest_consumer_lag_messages", "Messages received, not yet acknowledged.",
                     stats.unacked, worker)
        yield _gauge("ingest_consumer_lag_seconds", "Age of the oldest unacknowledged message.",
                     stats.oldest_unacked_s, worker)
        yield _gauge("ingest_connected", "1 while connected to the broker.",
                     int(stats.connected), worker)
        yield _gauge("ingest_subscribed", "1 while the broker grants the subscription.",
                     int(stats.subscribed), worker)
        yield _counter("ingest_subscribe_refusals", "Subscriptions the broker refused "
                       "(retried with backoff).", stats.subscribe_refusals, worker)
        yield _counter("ingest_sessions_lost", "Reconnects on which the broker no longer had "
                       "the worker's session.", stats.sessions_lost, worker)
        yield _counter("ingest_confirms_published", "End-to-end confirmations sent to devices.",
                       stats.confirms_published, worker)
        yield _counter("ingest_confirms_refused", "Confirmations the broker refused (ACL?); "
                       "their devices send again.", stats.confirms_refused, worker)
        yield _counter("ingest_confirms_dropped", "Confirmations dropped from a full queue; "
                       "their devices send again.", stats.confirms_dropped, worker)


def _counter(name: str, doc: str, value: float, labels: list[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["worker"])
    family.add_metric(labels, value)
    return family


def _gauge(name: str, doc: str, value: float, labels: list[str]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["worker"])
    family.add_metric(labels, value)
    return family


def stats_registry(stats: Stats, worker: int) -> CollectorRegistry:
    """The Prometheus registry of one worker: its `Stats`, collected at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(stats, worker))
    return registry
