"""Shipped scenarios load, have the devices the issue asks for, and simulate fast enough."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from contract import EquipmentType
from simulators import Plant, load_scenario, parse_scenario, shipped_scenarios

NAMES = ["battery-recycling", "construction-waste", "industrial-park", "secondary-aluminium"]
DAY_MS = 86_400_000


def test_the_four_scenarios_ship() -> None:
    assert [s.name for s in shipped_scenarios()] == NAMES


def test_the_industrial_park_has_tens_of_devices_of_every_type() -> None:
    park = load_scenario("industrial-park")
    types = Counter(d.type for line in park.lines for d in line.devices)
    assert park.device_count >= 20
    assert set(types) == set(EquipmentType)


@pytest.mark.parametrize(("name", "needs"), [
    ("construction-waste", {EquipmentType.CRUSHER_STATION, EquipmentType.BELT_SCALE}),
    ("secondary-aluminium", {EquipmentType.SMELTER_ALUMINIUM, EquipmentType.GAS_METER}),
    ("battery-recycling", {EquipmentType.DISMANTLING_BATTERY, EquipmentType.SMELTER_LEAD}),
])
def test_each_plant_has_its_equipment(name: str, needs: set[EquipmentType]) -> None:
    scenario = load_scenario(name)
    assert needs <= {d.type for line in scenario.lines for d in line.devices}


def test_a_mobile_crusher_burns_diesel_instead_of_grid_power() -> None:
    plant = Plant.from_scenario(load_scenario("construction-waste"), seed=3)
    names = {m.name for m in plant.device("mobile/mobile-1").metrics}
    assert "diesel_kg" in names
    assert "energy_kwh" not in names


def test_a_plant_day_of_the_industrial_park_takes_seconds_of_cpu() -> None:
    scenario = load_scenario("industrial-park")
    plant = Plant.from_scenario(scenario, seed=1)
    started = time.process_time()
    plant.advance_to(scenario.start_ms + DAY_MS)
    assert time.process_time() - started < 10


def test_a_scenario_file_can_be_loaded_by_path(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\ndescription: one meter\nsite: s1\nlines:\n"
                    "  - id: l1\n    devices:\n      - {id: m1, type: electricity_meter, "
                    "params: {base: 5}}\n")
    assert load_scenario(str(path)).device_count == 1


@pytest.mark.parametrize(("text", "error"), [
    ("lines: []", "Field required"),
    ("name: x\ndescription: d\nsite: s\nlines:\n  - id: l\n    devices:\n"
     "      - {id: a, type: belt_scale}\n      - {id: a, type: belt_scale}\n", "unique"),
    ("name: x\ndescription: d\nsite: s\nlines:\n  - id: l\n    devices:\n"
     "      - {id: a, type: belt_scale}\nfaults:\n  - {kind: stuck, at: 1h, until: 2h, "
     "device: l/zz, metric: rate_tph}\n", "unknown device"),
    ("name: x\ndescription: d\nsite: s\nlines:\n  - id: l\n    devices:\n"
     "      - {id: a, type: belt_scale}\nfaults:\n  - {kind: stuck, at: 1h, "
     "device: l/a, metric: rate_tph}\n", "window"),
])
def test_bad_scenarios_say_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_scenario(text)


def test_unknown_scenario_names_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match="industrial-park"):
        load_scenario("no-such-plant")


def test_a_meter_cannot_measure_another_meter() -> None:
    text = ("name: x\ndescription: d\nsite: s\nlines:\n  - id: l\n    devices:\n"
            "      - {id: a, type: electricity_meter}\n"
            "      - {id: b, type: electricity_meter, measures: [a]}\n")
    with pytest.raises(ValueError, match="not equipment"):
        Plant.from_scenario(parse_scenario(text))


def test_registers_are_configured_only_for_counters_the_device_has() -> None:
    text = ("name: x\ndescription: d\nsite: s\nlines:\n  - id: l\n    devices:\n"
            "      - id: m\n        type: crusher_station\n        params: {mobile: true}\n"
            "        registers: {energy_kwh: {initial: 5}}\n")
    with pytest.raises(ValueError, match="no counter"):
        Plant.from_scenario(parse_scenario(text))
