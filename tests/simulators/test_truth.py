"""Ground truth: interval rows add up to what really happened; files are written as promised."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from simulators import GroundTruthRecorder, Plant, TruthWriter, load_scenario
from simulators.truth import COLUMNS

HOUR_MS = 3_600_000


def test_interval_rows_add_up_to_each_devices_totals() -> None:
    scenario = load_scenario("industrial-park")
    plant = Plant.from_scenario(scenario, seed=6)
    plant.advance_to(scenario.start_ms + 10 * HOUR_MS)
    rows = plant.truth.drain()
    assert len(rows) == 40 * len(plant.devices)  # 15-minute intervals
    for device in plant.devices:
        mine = [r for r in rows if (r.line, r.device) == (device.id.line, device.id.device)]
        assert [r.start_ms for r in mine] == [scenario.start_ms + i * 900_000 for i in range(40)]
        for column in COLUMNS:
            total = sum(getattr(r, column) for r in mine)
            assert total == pytest.approx(device.totals[column], abs=1e-4), (device.key, column)


def test_line_totals_are_derivable_and_meters_say_what_they_measure() -> None:
    scenario = load_scenario("secondary-aluminium")
    plant = Plant.from_scenario(scenario, seed=6)
    plant.advance_to(scenario.start_ms + 5 * HOUR_MS)
    rows = plant.truth.drain()
    meter = sum(r.electricity_kwh for r in rows if r.device == "main-meter")
    furnaces = sum(r.electricity_kwh for r in rows if r.device.startswith("furnace"))
    measures = next(r.measures for r in rows if r.device == "main-meter")
    assert measures == "melt/furnace-1 melt/furnace-2"
    assert meter > furnaces > 0  # the meter also sees the plant's base load


def test_the_recorder_refuses_an_empty_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        GroundTruthRecorder(0, 0)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_the_writer_appends_rows_and_faults(tmp_path: Path, suffix: str) -> None:
    scenario = load_scenario("construction-waste")
    plant = Plant.from_scenario(scenario, seed=6)
    writer = TruthWriter(tmp_path / f"truth{suffix}")
    for hour in (12, 24):
        plant.advance_to(scenario.start_ms + hour * HOUR_MS)
        writer.write(plant.truth.drain(), plant.fault_log.drain())
    intervals, faults = _read(writer)
    assert len(intervals) == 96 * len(plant.devices)
    assert len(faults) == len(plant.fault_log.records) > 0
    first = intervals[0]
    assert float(first["end_ms"]) - float(first["start_ms"]) == 900_000
    assert {"site", "line", "device", "device_type", *COLUMNS} <= set(first)


def _read(writer: TruthWriter) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    if writer.path.suffix == ".jsonl":
        records = [json.loads(line) for line in writer.path.read_text().splitlines()]
        return ([r for r in records if r["record"] == "interval"],
                [r for r in records if r["record"] == "fault"])
    with writer.path.open() as rows, writer.faults_path.open() as faults:
        return list(csv.DictReader(rows)), list(csv.DictReader(faults))
