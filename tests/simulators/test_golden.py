"""Fixed seed, fixed output: hourly readings of every device of every shipped scenario.

Regenerate after an intended change with
`LOOPMETER_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/simulators/test_golden.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulators import Plant, load_scenario
from tests.simulators.test_scenarios import NAMES
from tests.support.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"
HOUR_MS = 3_600_000
SEED = 20260302


def hourly_run(name: str, hours: int = 24) -> dict[str, Any]:
    scenario = load_scenario(name)
    plant = Plant.from_scenario(scenario, seed=SEED)
    readings: dict[str, list[dict[str, Any]]] = {d.key: [] for d in plant.devices}
    for hour in range(1, hours + 1):
        plant.advance_to(scenario.start_ms + hour * HOUR_MS)
        for device in plant.devices:
            readings[device.key].append({"t_ms": plant.now_ms, "device_ms": device.now_ms(),
                                         **device.read()})
    return {
        "readings": readings,
        "truth": {d.key: {k: round(v, 6) for k, v in d.totals.items()} for d in plant.devices},
        "faults": [[r.t_ms, r.kind.value, r.device, r.detail] for r in plant.fault_log.records],
    }


@pytest.mark.parametrize("name", NAMES)
def test_scenario_day_matches_golden(name: str) -> None:
    assert_golden(GOLDEN / f"{name}.json", hourly_run(name))


def test_another_seed_gives_other_readings() -> None:
    scenario = load_scenario("construction-waste")
    plants = [Plant.from_scenario(scenario, seed=seed) for seed in (1, 2)]
    for plant in plants:
        plant.advance_to(scenario.start_ms + 10 * HOUR_MS)
    assert plants[0].devices[0].read() != plants[1].devices[0].read()
