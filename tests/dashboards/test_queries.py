"""Every panel query and variable of the committed dashboards, run on a real InfluxDB.

A simulated plant-day (the real simulator and energy-carbon engine, see `plantday`) is
written once per module; each query then gets Grafana's macros replaced the way Grafana
would (absolute time filter, a fixed interval, variables as regex-escaped values) and must
return non-empty, plausible data.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest

from adapters.influx import InfluxQL, InfluxSettings, Series
from carbon.ledger import Ledger, SQLiteStore
from carbon.periods import Granularity, period_containing
from carbon.settings import CarbonSettings
from contract import CATALOGUE, DeviceId, EquipmentType
from contract.messages import EventName
from dashboards import GENERATED, panels
from loopmeter.services import LocalServices
from simulators.province import province
from tests.dashboards.plantday import PlantDay, profile_of, write_fit_day, write_plant_day

pytestmark = pytest.mark.integration

SITE = f"t-{uuid.uuid4().hex[:8]}"
FIT_SITE = f"{SITE}-fit"  # a second, gap-free plant: the regulator's views span sites
INTERVAL = "15m"
STATES = {s for spec in CATALOGUE.values() for m in spec.metrics for s in m.states}
EVENTS = set(get_args(EventName)) | {"birth", "death"}
# What a value in each unit may plausibly be, for any line, site or device of the plant.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    panels.KW: (0, 100_000), panels.KWH: (0, 1e6), panels.KG: (0, 1e7),
    panels.PERCENT: (0, 1), panels.TONNES: (0, 1e5), panels.TONNES_PER_HOUR: (0, 2000),
    panels.KWH_PER_TONNE: (0, 1500), panels.KGCE: (0, 1e7), panels.KGCE_PER_TONNE: (0, 2000),
    panels.KG_CO2_PER_TONNE: (0, 5000), panels.NM3_PER_HOUR: (0, 5000),
    panels.CELSIUS: (-20, 1400), panels.SECONDS: (0, 7 * 86_400),
    panels.MILLISECONDS: (-3_600_000, 3_600_000), panels.COUNT: (0, 1e7),
    panels.NONE: (0, 1e9),
}


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    unit: str
    query: str

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.panel}"


def _dashboards() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(GENERATED.glob("*.json"))]


def _targets() -> list[Target]:
    return [Target(board["uid"], panel["title"], panel["fieldConfig"]["defaults"]["unit"],
                   target["query"])
            for board in _dashboards() for panel in board["panels"]
            for target in panel["targets"]]


def _variables() -> list[tuple[str, str, str]]:
    return [(board["uid"], variable["name"], variable["query"])
            for board in _dashboards() for variable in board["templating"]["list"]]


@dataclass(frozen=True)
class Plant:
    """The simulated day and a reader of the database that holds it."""

    day: PlantDay
    reader: InfluxQL
    ledger: Path

    @property
    def time_filter(self) -> str:
        # From the month's start: the monthly figures are dated there.
        return f"time >= {self.day.month_start_ms}ms AND time < {self.day.end_ms}ms"

    def run(self, query: str, variables: dict[str, str]) -> list[Series]:
        return self.reader.query(expand(query, variables, self.time_filter))

    def bindings(self, dashboard: str) -> list[dict[str, str]]:
        """The variable values to try: every device of the plant on the line dashboard."""
        if dashboard.endswith("line-detail"):
            return [{"site": SITE, "line": d.line, "device": d.device} for d in self.day.devices]
        return [{"site": SITE}]


def expand(query: str, variables: dict[str, str], time_filter: str) -> str:
    """Replace Grafana's macros and variables as Grafana does for an InfluxDB data source."""
    query = query.replace("$timeFilter", time_filter).replace("$__interval", INTERVAL)
    for name, value in variables.items():
        query = query.replace(f"${name}", re.escape(value))
    assert not re.search(r"\$\w", query), f"unreplaced macro or variable in {query}"
    return query


@pytest.fixture(scope="module")
def plant(services: LocalServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plant]:
    """A database holding one simulated plant-day at SITE, and its energy-carbon figures."""
    database = f"dashboards_{uuid.uuid4().hex[:8]}"
    settings = InfluxSettings(url=services.influx_url, database=database)
    reader = InfluxQL(settings)
    reader.create_database(database)
    ledger = tmp_path_factory.mktemp("carbon") / "ledger.sqlite"
    try:
        day = write_plant_day(settings, ledger, SITE)
        write_fit_day(settings, ledger, FIT_SITE, day, province(2)[1])
        yield Plant(day, reader, ledger)
    finally:
        reader.drop_database(database)
        reader.close()


def _cells(series: list[Series]) -> list[tuple[str, Any]]:
    """(column, value) of every non-null value, times left out."""
    return [(column, value) for s in series for row in s.values
            for column, value in zip(s.columns, row, strict=True)
            if column != "time" and value is not None]


def _values(series: list[Series]) -> list[Any]:
    return [value for _, value in _cells(series)]


def _implausible(target: Target, cells: list[tuple[str, Any]], plant: Plant) -> list[str]:
    low, high = PLAUSIBLE[target.unit]
    texts = _known_texts(plant)
    problems = []
    for column, value in cells:
        if isinstance(value, str):
            if value not in texts.get(column, {value}):
                problems.append(f"unexpected {column} {value!r}")
        elif not (math.isfinite(value) and low <= value <= high):
            problems.append(f"{value} outside [{low}, {high}] {target.unit}")
    return problems


def _known_texts(plant: Plant) -> dict[str, set[str]]:
    """What text columns may hold; other text columns (event details) are free text."""
    devices = plant.day.devices
    return {"last": STATES, "state": STATES, "event": EVENTS, "site": {SITE},
            "line": {d.line for d in devices}, "device": {d.device for d in devices},
            "metric": {m.name for spec in CATALOGUE.values() for m in spec.metrics}}


@pytest.mark.parametrize("target", _targets(), ids=str)
def test_every_panel_query_returns_plausible_data(plant: Plant, target: Target) -> None:
    found: list[Any] = []
    for variables in plant.bindings(target.dashboard):
        cells = _cells(plant.run(target.query, variables))
        problems = _implausible(target, cells, plant)
        assert not problems, (variables, problems[:5])
        found += cells
    assert found, f"{target} returned no data for any device"


@pytest.mark.parametrize(("dashboard", "name", "query"), _variables(),
                         ids=[f"{d}: {n}" for d, n, _ in _variables()])
def test_every_variable_lists_the_plant(plant: Plant, dashboard: str, name: str,
                                        query: str) -> None:
    for variables in plant.bindings(dashboard):
        listed = {v for s in plant.run(query, variables) for _, v in s.values}
        assert variables[name] in listed, (variables, listed)


def test_line_power_counts_a_metered_machine_once(plant: Plant) -> None:
    """A line whose main meter measures its one machine shows the machine's power, once."""
    line, machine = _line_with_one_machine_and_a_meter(plant.day.devices)
    line_power = next(t.query for t in _targets() if t.panel == "Power per line")
    lines = {s.tags["line"]: s for s in plant.run(line_power, {"site": SITE})}
    device = plant.reader.query(
        f'SELECT mean("power_kw") FROM "telemetry" WHERE "line" = $line AND "device" = $device '
        f"AND {plant.time_filter} GROUP BY time({INTERVAL})",
        params={"line": line, "device": machine})
    assert lines[line].values == device[0].values


def _line_with_one_machine_and_a_meter(devices: dict[DeviceId, EquipmentType]) -> tuple[str, str]:
    lines: dict[str, list[tuple[str, EquipmentType]]] = {}
    for device, kind in devices.items():
        lines.setdefault(device.line, []).append((device.device, kind))
    for line, members in sorted(lines.items()):
        powered = [d for d, kind in members if CATALOGUE[kind].by_name.get("power_kw")]
        meters = [d for d, kind in members if kind is EquipmentType.ELECTRICITY_METER]
        if meters and len(powered) == 2:
            return line, next(d for d in powered if d not in meters)
    raise AssertionError("the scenario has no line with one machine and its meter")


def test_states_are_the_catalogue_states(plant: Plant) -> None:
    query = next(t.query for t in _targets() if t.panel == "Equipment states")
    states = set(_values(plant.run(query, {"site": SITE})))
    assert states <= STATES
    assert {"running", "melting"} <= states


def test_dead_letters_panel_counts_every_rejected_message(plant: Plant) -> None:
    query = next(t.query for t in _targets() if t.panel == "Dead letters by reason")
    shown = {s.tags["reason"]: sum(_values([s])) for s in plant.run(query, {})}
    assert plant.day.rejected and shown == dict(plant.day.rejected)


def _query(panel: str) -> str:
    return next(t.query for t in _targets() if t.panel == panel)


def test_regulator_rollup_is_by_region_and_leaves_out_what_is_not_fit(plant: Plant) -> None:
    """Regions are the site profiles' cities; verdicts are the ledger's; the roll-up of fit
    periods leaves the simulated (faulty) plant-day out when the engine judged it not fit."""
    regions = {SITE: profile_of(SITE).city_en, FIT_SITE: province(2)[1].city_en}
    label = period_containing(plant.day.start_ms, Granularity.DAY,
                              CarbonSettings().zone()).label
    ledger = Ledger(SQLiteStore(plant.ledger, create=False))
    verdicts = {}
    for site in regions:
        record = ledger.latest(site, label)
        assert record is not None
        verdicts[site] = record.data()["quality"]["verdict"]
    assert verdicts[FIT_SITE] != "not_fit"
    latest = plant.run(_query("Latest verdict per site"), {"site": SITE})
    assert {s.tags["site"]: (s.tags["region"], s.values[0][s.columns.index("verdict")])
            for s in latest} == {site: (regions[site], verdicts[site]) for site in regions}
    rollup = plant.run(_query("Roll-up by recycling domain and region"), {"site": SITE})
    fit = {site for site, verdict in verdicts.items() if verdict != "not_fit"}
    assert {s.tags["region"] for s in rollup} == {regions[site] for site in fit}
    counts = plant.run(_query("Site-days by quality verdict, per domain and region"),
                       {"site": SITE})
    total = Counter[str]()
    for series in counts:
        row = dict(zip(series.columns, series.values[0], strict=True))
        total.update({k: int(row[k]) for k in ("complete", "estimated", "not fit")})
    assert total == Counter(v.replace("_", " ") for v in verdicts.values())


def test_tonnes_per_device_are_the_engines_quarters(plant: Plant) -> None:
    """The line view's tonnes are the engine's 15-minute figures of the day, once (not the
    quarters plus the day and month closed over them), device by device."""
    query = _query("Tonnes in and out in the time range")
    devices = {d for d, kind in plant.day.devices.items() if CATALOGUE[kind].domain}
    shown: dict[tuple[str, str], dict[str, float]] = {}
    for device in devices:
        for series in plant.run(query, {"site": SITE, "line": device.line,
                                        "device": device.device}):
            shown[device.line, device.device] = dict(zip(series.columns[1:], series.values[0][1:],
                                            strict=True))
    days = plant.reader.query(
        'SELECT sum("input_t") AS "in", sum("output_t") AS "out" FROM "energy_carbon" '
        "WHERE \"level\" = 'device' AND \"period\" = '1d' AND \"site\" = $site "
        f'AND {plant.time_filter} GROUP BY "line", "device"', params={"site": SITE})
    closed = {(s.tags["line"], s.tags["device"]):
              dict(zip(s.columns[1:], s.values[0][1:], strict=True)) for s in days}
    assert closed and set(shown) == set(closed)
    for device, figures in closed.items():
        for column in ("in", "out"):
            assert shown[device][column] == pytest.approx(figures[column], rel=0.01), (
                device, column)
