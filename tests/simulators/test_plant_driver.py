"""The simulator driver of a YAML agent: its plant runs on the agent's clock."""

from __future__ import annotations

from pathlib import Path

from edge_agents.config import build_driver, load
from simulators.driver import PlantDriver

EXAMPLE = Path(__file__).parents[2] / "edge_agents" / "examples" / "simulated-crusher.yaml"
START_MS = 1_795_000_000_000
HOUR_MS = 3_600_000


def test_each_read_advances_the_plant_to_the_time_of_the_read() -> None:
    driver = build_driver(load(EXAMPLE), START_MS)
    assert isinstance(driver, PlantDriver)
    names = [m.name for m in driver.metrics()]
    first = driver.read(names, START_MS + 60_000)
    later = driver.read(names, START_MS + 8 * HOUR_MS)
    assert set(first) == set(later) == set(names)
    assert float(later["energy_kwh"]) > float(first["energy_kwh"])
    assert float(later["input_t"]) >= float(first["input_t"])
    assert driver.device_time_ms() == START_MS + 8 * HOUR_MS


def test_the_metrics_and_periods_are_those_of_the_file() -> None:
    config = load(EXAMPLE)
    driver = build_driver(config, START_MS)
    assert [(m.name, m.period_s) for m in driver.metrics()] == [
        (m.name, m.period_s) for m in config.metrics]
