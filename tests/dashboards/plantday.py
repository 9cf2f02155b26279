"""A simulated plant-day in InfluxDB: what every dashboard panel reads.

The real simulator runs the mixed industrial-park scenario for a day. A stand-in for the
ingest service (no broker in between) decodes each message with the contract, maps it to
points and counts its completeness with the ingest service's own `SequenceTracker`; a
stand-in for the edge agents, which the simulator does not emulate, adds their status.
The real energy-carbon engine then closes every 15-minute period, the day and the month.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.clock import SystemClock
from adapters.influx import InfluxSettings, PointWriter
from carbon.periods import Granularity, period_containing, periods_between
from carbon.service import build
from carbon.settings import CarbonSettings
from contract import (
    ContractError,
    DataMessage,
    DeviceId,
    EquipmentType,
    MessageKind,
    Point,
    StatusMessage,
    Topic,
    decode,
    to_points,
)
from contract.site_profile import SiteProfile
from ingest_service.pipeline import DEAD_LETTERS, HEALTH
from ingest_service.quality import SequenceTracker, quality_points
from simulators.feed import PlantFeed
from simulators.plant import Plant
from simulators.province import province, write_profiles
from simulators.scenario import Scenario, load_scenario
from tests.gateway.carbon_day import plant_days

SCENARIO = "industrial-park"
# One sample a minute instead of the scenario's ten seconds: a day of the park in ~40,000
# points, so that writing it and closing its periods takes seconds.
SAMPLE_PERIOD_S = 60.0
DAY_MS = 86_400_000
REPORT_MS = 15 * 60_000
LATE_AFTER_MS = 300_000
WRITE_BATCH = 10_000
WORKER = "0"


def scenario(site: str) -> Scenario:
    data = load_scenario(SCENARIO).model_dump()
    data["site"] = site
    for line in data["lines"]:
        for device in line["devices"]:
            device["period_s"] = SAMPLE_PERIOD_S
    return Scenario.model_validate(data)


@dataclass
class IngestStandIn:
    """Decodes what the simulator publishes and reports on it as the ingest service does."""

    plant: Plant
    points: list[Point] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    messages_in: int = 0
    _reported: Counter[str] = field(default_factory=Counter)
    _tracker: SequenceTracker = field(default_factory=lambda: SequenceTracker(LATE_AFTER_MS))

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        now = self.plant.now_ms
        self.messages_in += 1
        try:
            envelope = decode(topic, payload, now_ms=now)
        except ContractError as error:
            self.rejected[error.reason.value] += 1
            return
        self.points += to_points(envelope.topic, envelope.message, now)
        if isinstance(envelope.message, DataMessage):
            self._tracker.observe(envelope.topic.device, envelope.message.seq,
                                  [s.ts for s in envelope.message.samples], now)

    def report(self, time_ms: int) -> None:
        """Quality per device, the worker's health and fresh dead letters, as ingest writes."""
        self.points += quality_points(self._tracker.take(), time_ms)
        self.points.append(Point(HEALTH, (("worker", WORKER),), {
            "spool_depth": 0, "dead_letters_total": self.rejected.total(),
            "messages_in": self.messages_in, "points_written": len(self.points)}, time_ms))
        for reason, count in (self.rejected - self._reported).items():
            self.points.append(Point(DEAD_LETTERS, (("reason", reason), ("worker", WORKER)),
                                     {"count": count}, time_ms))
        self._reported = Counter(self.rejected)


def agent_status(device: DeviceId, start_ms: int) -> Iterator[Point]:
    """What an edge agent reports every 15 minutes: a backlog while its uplink was down."""
    for ts in range(start_ms, start_ms + DAY_MS, REPORT_MS):
        minute = (ts - start_ms) // 60_000
        backlog = 40 if 180 <= minute < 240 else 0
        status = StatusMessage(ts=ts, session=0, queue_depth=backlog,
                               oldest_queued_ts=ts - 600_000 if backlog else None,
                               clock_offset_ms=int(120 * math.sin(minute / 90)),
                               agent_version="0.1.0", uptime_s=float(minute * 60))
        yield from to_points(Topic(device, MessageKind.STATUS), status, ts)


@dataclass(frozen=True)
class PlantDay:
    """Where the simulated day is: its site, devices and the window that holds its figures."""

    site: str
    devices: dict[DeviceId, EquipmentType]
    start_ms: int
    end_ms: int
    month_start_ms: int
    rejected: Counter[str]


def simulate(site: str, zone: ZoneInfo) -> tuple[PlantDay, list[Point]]:
    plant = Plant.from_scenario(scenario(site), seed=1)
    ingest = IngestStandIn(plant)
    feed = PlantFeed(plant, ingest, plant.link_faults())
    start = plant.now_ms
    feed.births()
    for report_ms in range(start + REPORT_MS, start + DAY_MS + 1, REPORT_MS):
        feed.advance_to(report_ms)
        ingest.report(report_ms)
    feed.finish()
    devices = {d.id: d.type for d in plant.devices}
    points = ingest.points + [p for d in devices for p in agent_status(d, start)]
    month = period_containing(start, Granularity.MONTH, zone)
    day = PlantDay(site, devices, start, start + DAY_MS, month.start_ms, ingest.rejected)
    return day, points


def write_profile(folder: Path, site: str) -> Path:
    """The site's profile (the simulated province's first plant, renamed): its city becomes
    the `region` tag of the engine's figures."""
    write_profiles([profile_of(site)], folder)
    return folder


def profile_of(site: str) -> SiteProfile:
    return province(1)[0].model_copy(update={"site": site})


def write_fit_day(settings: InfluxSettings, ledger: Path, site: str, day: PlantDay,
                  profile: SiteProfile) -> None:
    """A second plant on the same day: the carbon tests' synthetic plant (constant rates, no
    gaps), so that the regulator's roll-up of fit periods has a plant to sum."""
    carbon = CarbonSettings(influx=settings, ledger_path=ledger,
                            profiles_path=ledger.parent / "sites")
    write_profiles([profile.model_copy(update={"site": site})], carbon.profiles_path)
    with PointWriter(settings) as writer:
        writer.write(plant_days(site, 1, day.start_ms).points())
    with build(carbon, SystemClock()) as parts:
        parts.engine.close_all(site, [period_containing(day.start_ms, Granularity.DAY,
                                                        carbon.zone())])


def write_plant_day(settings: InfluxSettings, ledger: Path, site: str) -> PlantDay:
    """Simulate the day into `settings.database`, then close its periods with the engine."""
    carbon = CarbonSettings(influx=settings, ledger_path=ledger,
                            profiles_path=write_profile(ledger.parent / "sites", site))
    zone = carbon.zone()
    day, points = simulate(site, zone)
    with PointWriter(settings) as writer:
        for start in range(0, len(points), WRITE_BATCH):
            writer.write(points[start:start + WRITE_BATCH])
    with build(carbon, SystemClock()) as parts:
        periods = [p for g in (Granularity.QUARTER, Granularity.DAY)
                   for p in periods_between(day.start_ms, day.end_ms, g, zone)]
        parts.engine.close_all(site, periods)
        parts.engine.close_all(site, [period_containing(day.start_ms, Granularity.MONTH, zone)])
    return day
