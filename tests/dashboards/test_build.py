"""The committed dashboard JSON is what the code generates, and every query reads real names."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from contract import CATALOGUE, MetricKind
from dashboards import GENERATED, benchmarks, dashboards, generate, panels, stale, to_dict, write
from dashboards.cli import app
from dashboards.panels import DATASOURCE_UID
from tests.support.golden import REGENERATE

MEASUREMENTS = {"telemetry", "device_lifecycle", "agent_status", "device_event",
                "energy_carbon", "ingest_quality", "ingest_health", "dead_letters"}
METRICS = {m.name for spec in CATALOGUE.values() for m in spec.metrics}
BOARDS = [to_dict(board) for board in dashboards()]


def _panels() -> list[dict[str, Any]]:
    return [panel for board in BOARDS for panel in board["panels"]]


def test_committed_json_is_what_the_code_generates() -> None:
    if REGENERATE:
        write()
    assert stale() == [], ("run `loopmeter dashboards build` (or the tests with "
                           "LOOPMETER_REGEN_GOLDEN=1) and commit dashboards/generated/")


def test_json_is_written_with_sorted_keys() -> None:
    for name, text in generate().items():
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True,
                                  ensure_ascii=False) + "\n", name


def test_build_check_fails_on_a_stale_or_extra_file_and_build_repairs(tmp_path: Path) -> None:
    folder = tmp_path / "generated"
    shutil.copytree(GENERATED, folder)
    runner = CliRunner()
    assert runner.invoke(app, ["build", "--check", "--folder", str(folder)]).exit_code == 0
    (folder / "loopmeter-regulator.json").write_text("{}\n", encoding="utf-8")
    (folder / "old.json").write_text("{}\n", encoding="utf-8")
    checked = runner.invoke(app, ["build", "--check", "--folder", str(folder)])
    assert checked.exit_code == 1
    assert "loopmeter-regulator.json, old.json" in checked.output
    assert runner.invoke(app, ["build", "--folder", str(folder)]).exit_code == 0
    assert stale(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == write(folder)


def test_the_five_dashboards_have_unique_uids_and_numbered_panels() -> None:
    uids = [board["uid"] for board in BOARDS]
    assert uids == ["loopmeter-plant-overview", "loopmeter-line-detail",
                    "loopmeter-energy-carbon", "loopmeter-data-quality", "loopmeter-regulator"]
    for board in BOARDS:
        assert [p["id"] for p in board["panels"]] == list(range(1, len(board["panels"]) + 1))


@pytest.mark.parametrize("panel", _panels(), ids=lambda p: str(p["title"]))
def test_every_panel_reads_influxql_from_the_provisioned_data_source(
        panel: dict[str, Any]) -> None:
    assert panel["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}
    assert panel["targets"] and panel["description"]
    for target in panel["targets"]:
        assert target["rawQuery"] is True and target["query"].startswith("SELECT ")
        assert "$timeFilter" in target["query"], "every query must follow the time picker"
        assert set(re.findall(r'FROM "(\w+)"', target["query"])) <= MEASUREMENTS


def test_telemetry_queries_name_catalogue_metrics_only() -> None:
    for panel in _panels():
        for target in panel["targets"]:
            query = target["query"]
            if 'FROM "telemetry"' in query:
                fields = set(re.findall(r'\w+\("(\w+)"\)', query))
                assert fields <= METRICS | {"v"}, (panel["title"], fields - METRICS)


COUNTERS = {m.name for spec in CATALOGUE.values() for m in spec.metrics
            if m.kind is MetricKind.COUNTER}


def _reads_raw_counters(query: str) -> bool:
    fields = set(re.findall(r'"(\w+)"', query)) | set(re.findall(r"/\^(\w+)", query))
    return 'FROM "telemetry"' in query and any(
        f in COUNTERS or any(c.startswith(f) for c in COUNTERS) for f in fields)


@pytest.mark.parametrize("panel", _panels(), ids=lambda p: str(p["title"]))
def test_a_panel_on_raw_counters_says_it_does_not_apply_the_counter_rules(
        panel: dict[str, Any]) -> None:
    """Issue 15: what reports amounts from counters inside InfluxDB cannot apply the engine's
    rules; it must say so. Panels on the engine's `energy_carbon` figures must not."""
    raw = any(_reads_raw_counters(t["query"]) for t in panel["targets"])
    assert (panels.RAW_COUNTERS in panel["description"]) is raw, panel["description"]


def test_raw_counter_panels_are_found() -> None:
    raw = {p["title"] for p in _panels()
           if any(_reads_raw_counters(t["query"]) for t in p["targets"])}
    assert raw == {"Throughput per line", "Throughput", "Output fractions in the time range"}


def test_line_detail_variables_narrow_site_line_device() -> None:
    board = next(b for b in BOARDS if b["uid"] == "loopmeter-line-detail")
    variables = {v["name"]: v["query"] for v in board["templating"]["list"]}
    assert list(variables) == ["site", "line", "device"]
    assert '"site" =~ /^$site$/' in variables["line"]
    assert '"line" =~ /^$line$/' in variables["device"]


def test_intensity_panels_carry_benchmarks_with_source_and_status() -> None:
    panels = {p["title"]: p for p in _panels()}
    metals = panels["Recycled metals: energy per tonne of product"]
    steps = metals["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 130, 185, 222]
    for benchmark in benchmarks.METALS:
        assert benchmark.describe() in metals["description"]
    crushing = panels["Construction waste: electricity per tonne crushed"]
    assert "[U]" in crushing["description"] and "often quoted 1-5 kWh/t" in crushing["description"]


def test_every_catalogue_state_has_a_colour() -> None:
    states = {s for spec in CATALOGUE.values() for m in spec.metrics if m.name == "state"
              for s in m.states}
    assert set(panels.state_colours().options) == states
