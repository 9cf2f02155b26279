"""End to end: one simulated plant-day of the mixed scenario through InfluxDB into the ledger.

The simulator's messages pass the contract codec and `contract.to_points` and are written to
the real InfluxDB as the ingest service would write them; the MQTT leg (agent -> Mosquitto
-> ingest) is not in this test. Link faults of the scenario (a 30-minute network drop,
duplicates, reordering, a malformed burst) apply; the counters bridge the drop.

Tolerance: per line and day, electricity, fuels, tonnes and CO2 within 1 % of the ground
truth (plus 0.05 in absolute terms for near-empty figures). The residual error comes from
register resolution, a skewed device clock at the day's edges and the first 10 s of the
day, which no reading covers and which is estimated.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from contract import ContractError, EquipmentType, Point, decode, to_points
from contract.points import DEVICE_EVENT, TELEMETRY
from ingest_service.carbon.periods import parse_period
from ingest_service.carbon.registry import load_registry
from ingest_service.carbon.service import build
from ingest_service.carbon.settings import CarbonSettings
from loopmeter.clock import SystemClock
from loopmeter.influx import InfluxSettings, PointWriter
from loopmeter.services import LocalServices
from simulators.feed import PlantFeed
from simulators.plant import Plant
from simulators.scenario import load_scenario

pytestmark = pytest.mark.integration
METERS = {EquipmentType.ELECTRICITY_METER.value, EquipmentType.GAS_METER.value,
          EquipmentType.BELT_SCALE.value}
COMPARED = ("electricity_kwh", "natural_gas_nm3", "diesel_kg", "input_t", "output_t")
RELATIVE, ABSOLUTE = Decimal("0.01"), Decimal("0.05")


class Collect:
    """A feed publisher that decodes and maps each message as the ingest service does."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.points: list[Point] = []
        self.rejected = 0

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        now = self.plant.now_ms  # plant time: the codec refuses samples from the future
        try:
            envelope = decode(topic, payload, now_ms=now)
        except ContractError:
            self.rejected += 1  # the malformed burst: the ingest service dead-letters it
            return
        self.points += [p for p in to_points(envelope.topic, envelope.message, now)
                        if p.measurement in (TELEMETRY, DEVICE_EVENT)]


def simulate_day() -> tuple[str, int, list[Point], dict[str, dict[str, Decimal]]]:
    scenario = load_scenario("industrial-park")
    plant = Plant.from_scenario(scenario)
    sink = Collect(plant)
    feed = PlantFeed(plant, sink, plant.link_faults())
    day_end = scenario.start_ms + 86_400_000
    feed.advance_to(day_end + 600_000)  # readings after midnight close the day's last gap
    feed.finish()
    assert sink.rejected <= 4, "only the scenario's malformed burst may be refused"
    truth: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in plant.truth.drain():
        if row.device_type not in METERS and row.end_ms <= day_end:
            for column in COMPARED:
                truth[row.line][column] += Decimal(str(getattr(row, column)))
    return scenario.site, scenario.start_ms, sink.points, truth


def test_plant_day_matches_ground_truth(services: LocalServices, influx_db: str,
                                        tmp_path: Path) -> None:
    site, start_ms, points, truth = simulate_day()
    influx = InfluxSettings(url=services.influx_url, database=influx_db)
    with PointWriter(influx) as writer:
        for first in range(0, len(points), 10_000):
            writer.write(points[first:first + 10_000])
    settings = CarbonSettings(influx=influx, ledger_path=tmp_path / "ledger.sqlite")
    day = parse_period("2026-03-02", settings.zone())
    assert day.start_ms == start_ms
    parts = build(settings, SystemClock())
    try:
        closed = parts.engine.close(site, day)
    finally:
        parts.writer.close()
        parts.ql.close()
    lines = {r.line: r.values for r in closed.computation.rows if r.level == "line"}
    assert set(lines) == set(truth)
    for line, expected in truth.items():
        for column in COMPARED:
            got = lines[line][column]
            assert got is not None
            assert abs(got - expected[column]) <= RELATIVE * expected[column] + ABSOLUTE, (
                line, column, got, expected[column])
        assert_co2(lines[line], expected)
    assert parts.ledger.verify().ok


def assert_co2(values: dict[str, Decimal | None] | object, truth: dict[str, Decimal]) -> None:
    """CO2 from the true quantities with the same registry factors (values written out)."""
    registry = load_registry()
    grid = registry["grid.henan.2023.mee-2025-47"].value  # 0.5897 kg/kWh
    gas = registry["combustion.natural-gas.ncv389.31"].value  # 2.1622 kg/Nm3
    diesel = registry["combustion.diesel.ncv42.652"].value  # 3.0959 kg/kg
    expected = (truth["electricity_kwh"] * grid + truth["natural_gas_nm3"] * gas
                + truth["diesel_kg"] * diesel)
    assert isinstance(values, dict)
    got = values["co2_total_kg"]
    assert got is not None
    assert abs(got - expected) <= RELATIVE * expected + ABSOLUTE
