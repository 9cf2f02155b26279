"""Data quality: is every device alive, and is every sample arriving once, in order, on time?"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from contract.points import (
    AGENT_STATUS,
    DEAD_LETTERS,
    INGEST_HEALTH,
    INGEST_QUALITY,
    LIFECYCLE,
)
from dashboards import panels
from dashboards.influxql import INTERVAL, SITE, source, where

UID = "loopmeter-data-quality"
DEVICE_ALIAS = "$tag_site / $tag_line / $tag_device"


def _per_device(select: str, measurement: str) -> str:
    return (f'SELECT {select} {source(measurement)} {where(SITE)} '
            f'GROUP BY time({INTERVAL}), "site", "line", "device"')


def _ingest(select: str, measurement: str, tag: str) -> str:
    # The ingest service's own measurements carry no site: they describe the service.
    return (f'SELECT {select} {source(measurement)} {where()} '
            f'GROUP BY time({INTERVAL}), "{tag}"')


def build() -> Dashboard:
    return (
        panels.dashboard(UID, "Loopmeter: data quality",
                         "Device liveness, sequence gaps, late data, dead letters, the ingest "
                         "spool and the edge agents' backlogs.", "now-24h",
                         [panels.tag_variable("site", "Site")])
        .with_panel(panels.time_series(
            "Messages per device", "Data messages ingested per interval; a device at zero "
            "is silent.", panels.COUNT, _per_device('sum("messages")', INGEST_QUALITY),
            alias=DEVICE_ALIAS))
        .with_panel(panels.table_of(
            "Device lifecycle", "Each device's last birth or death, with its session.",
            panels.NONE,
            f'SELECT last("event") AS "event" {source(LIFECYCLE)} '
            f'{where(SITE)} GROUP BY "site", "line", "device"'))
        .with_panel(panels.time_series(
            "Sequence gaps", "Data messages missing from each device's sequence.",
            panels.COUNT, _per_device('sum("seq_gaps")', INGEST_QUALITY),
            alias=DEVICE_ALIAS, bars=True))
        .with_panel(panels.time_series(
            "Late, duplicate and reordered samples", "Samples that arrived after their "
            "period was computed, twice, or out of order.", panels.COUNT,
            f'SELECT sum("late_samples") AS "late", sum("duplicates") AS "duplicate", '
            f'sum("reordered") AS "reordered" {source(INGEST_QUALITY)} {where(SITE)} '
            f"GROUP BY time({INTERVAL})", alias="$col", bars=True))
        .with_panel(panels.time_series(
            "Dead letters by reason", "Messages refused by the contract, by reason.",
            panels.COUNT, _ingest('sum("count")', DEAD_LETTERS, "reason"),
            alias="$tag_reason", bars=True))
        .with_panel(panels.time_series(
            "Ingest spool depth", "Points held on disk while InfluxDB is unavailable.",
            panels.COUNT, _ingest('max("spool_depth")', INGEST_HEALTH, "worker"),
            alias="$tag_worker"))
        .with_panel(panels.time_series(
            "Agent backlog", "Samples queued in each edge agent.", panels.COUNT,
            _per_device('max("queue_depth")', AGENT_STATUS), alias=DEVICE_ALIAS))
        .with_panel(panels.time_series(
            "Agent backlog age", "Age of the oldest sample queued in each edge agent.",
            panels.SECONDS, _per_device('max("backlog_age_s")', AGENT_STATUS),
            alias=DEVICE_ALIAS))
        .with_panel(panels.time_series(
            "Agent clock offset", "Device clock minus the reference clock.",
            panels.MILLISECONDS, _per_device('mean("clock_offset_ms")', AGENT_STATUS),
            alias=DEVICE_ALIAS))
        .build()
    )
