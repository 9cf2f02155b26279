"""The end-to-end slice: edge agents -> real Mosquitto (QoS 1) -> ingest service -> InfluxDB.

Five devices sample 200 times each on a clock one second per tick; every sample must come
back from InfluxDB exactly once, with its device timestamp, its values and its identity tags.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.clock import SystemClock
from adapters.influx import InfluxQL, InfluxSettings
from adapters.mqtt import MqttSettings
from contract import EquipmentType
from edge_agents.agent import Agent, AgentConfig
from edge_agents.driver import CallableDriver, Reading, declare
from ingest_service.service import IngestService
from loopmeter.services import LocalServices
from tests.ingest_service.support import ingest_settings
from tests.support.clock import FakeClock
from tests.support.live import wait_for

pytestmark = pytest.mark.integration
METER = EquipmentType.ELECTRICITY_METER
DEVICES, SAMPLES = 5, 200
HOUR_MS = 3_600_000


def reading(device: int, now_ms: int) -> Reading:
    """Values that differ per device and sample, exactly representable as floats."""
    second = now_ms // 1000 % 100_000
    return {"power_kw": 100.0 * device + second % 97 / 4,
            "energy_kwh": 1000.0 * device + second / 8}


def agent(site: str, device: int, services: LocalServices, clock: FakeClock,
          state_dir: Path) -> Agent:
    config = AgentConfig(site=site, line=f"l{device % 2}", device=f"m{device}",
                         device_type=METER, batch_s=20)
    driver = CallableDriver([declare(METER, "power_kw", 1.0), declare(METER, "energy_kwh", 1.0)],
                            lambda _names, now_ms: reading(device, now_ms))
    return Agent(config, driver, MqttSettings(url=services.mqtt_url), clock,
                 state_dir / f"agent-{device}", network_clock=SystemClock())


def run_agents(agents: list[Agent], clock: FakeClock) -> None:
    for _ in range(SAMPLES):
        for each in agents:
            each.tick()
        clock.advance(1.0)
    for each in agents:
        each.flush()
    def delivered() -> bool:
        for each in agents:
            each.deliver()
        return all(each.idle for each in agents)

    wait_for(delivered, 30, "the broker to acknowledge everything")


def read_back(influx: InfluxSettings, site: str) -> dict[tuple[str, str, str], dict[int, Reading]]:
    """Telemetry of `site` by (line, device, device_type), then by timestamp."""
    with InfluxQL(influx) as ql:
        series = ql.query("SELECT power_kw, energy_kwh FROM telemetry WHERE site = $site "
                          "GROUP BY line, device, device_type", {"site": site})
    found: dict[tuple[str, str, str], dict[int, Reading]] = {}
    for one in series:
        key = (one.tags["line"], one.tags["device"], one.tags["device_type"])
        found[key] = {row["time"]: {"power_kw": row["power_kw"], "energy_kwh": row["energy_kwh"]}
                      for row in one.records()}
    return found


def test_every_sample_arrives_once_with_its_time_values_and_tags(
        services: LocalServices, influx_db: str, unique_site: str, tmp_path: Path) -> None:
    clock = FakeClock(SystemClock().now_ms() // 1000 * 1000 - HOUR_MS)
    start_ms = clock.now_ms()
    settings = ingest_settings(services, influx_db, tmp_path / "ingest", site=unique_site)
    agents = [agent(unique_site, d, services, clock, tmp_path) for d in range(DEVICES)]
    with IngestService(settings) as ingest:
        try:
            run_agents(agents, clock)
        finally:
            for each in agents:
                each.stop()
        wait_for(lambda: ingest.stats.points_written >= DEVICES * SAMPLES, 30,
                 "ingest to write every sample")
    assert ingest.failure is None
    times = [start_ms + i * 1000 for i in range(SAMPLES)]
    expected = {(f"l{d % 2}", f"m{d}", METER.value): {t: reading(d, t) for t in times}
                for d in range(DEVICES)}
    assert read_back(settings.influx, unique_site) == expected
