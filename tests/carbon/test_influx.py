"""Against the real InfluxDB: the reader, `energy_carbon` points and the CLI end to end."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.influx import InfluxQL, InfluxSettings, PointWriter
from carbon.activity import slice_inputs
from carbon.cli import app
from carbon.closing import inputs_payload
from carbon.counters import Reading
from carbon.influx_io import MEASUREMENT, TelemetryReader
from carbon.periods import Granularity, parse_period, sub_periods
from carbon.service import Runner, build
from carbon.settings import CarbonSettings
from loopmeter.services import LocalServices
from tests.carbon.plant import CRUSHER, DAY, FURNACE, HORIZON, MIN, TZ, Plant
from tests.support.clock import FakeClock

pytestmark = pytest.mark.integration


@pytest.fixture
def influx(services: LocalServices, influx_db: str) -> InfluxSettings:
    return InfluxSettings(url=services.influx_url, database=influx_db)


@pytest.fixture
def ql(influx: InfluxSettings) -> Iterator[InfluxQL]:
    client = InfluxQL(influx)
    yield client
    client.close()


def write(influx: InfluxSettings, plant: Plant) -> None:
    with PointWriter(influx) as writer:
        points = plant.points()
        for start in range(0, len(points), 5000):
            writer.write(points[start:start + 5000])


def cli(influx: InfluxSettings, tmp_path: Path, *args: str,
        stream: str = "stdout") -> tuple[int, str]:
    """Exit code and stdout (the command's results; its summary and errors: `stream="stderr"`)."""
    env = {"LOOPMETER_CARBON_INFLUX__URL": influx.url,
           "LOOPMETER_CARBON_INFLUX__DATABASE": influx.database,
           "LOOPMETER_CARBON_LEDGER_PATH": str(tmp_path / "ledger.sqlite")}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout if stream == "stdout" else result.stderr


def test_reader_returns_what_was_written(influx: InfluxSettings, ql: InfluxQL,
                                         unique_site: str) -> None:
    plant = Plant.day(unique_site)
    plant.reset(CRUSHER, "energy_kwh", DAY.start_ms + 600 * MIN)
    plant.roll_over(FURNACE, "gas_nm3", Decimal(3000))
    # Births long before the day and inside it, deaths of two sessions, states.
    plant.birth(CRUSHER, DAY.start_ms - 30 * HORIZON, session=1, maxima={"power_kw": 900})
    plant.death(CRUSHER, DAY.start_ms - 20 * HORIZON, session=1)
    plant.birth(CRUSHER, DAY.start_ms - 2 * HORIZON, session=2, maxima={"power_kw": 800,
                                                                       "feed_rate_tph": 300})
    plant.birth(FURNACE, DAY.start_ms + 90 * MIN, session=7)
    plant.death(FURNACE, DAY.start_ms + 600 * MIN, session=7)
    for minute, state in ((-5, "idle"), (0, "running"), (700, "off"), (1445, "running")):
        plant.state(CRUSHER, DAY.start_ms + minute * MIN, state)
    write(influx, plant)
    reader = TelemetryReader(ql, HORIZON)
    assert reader.sites() == [unique_site]
    day = reader.read(unique_site, DAY.start_ms, DAY.end_ms)
    assert inputs_payload(day) == inputs_payload(plant.inputs(DAY.start_ms, DAY.end_ms))
    crusher = day.devices[CRUSHER.key]
    assert [(e.ts, e.born, e.session) for e in crusher.lifecycle] == [
        (DAY.start_ms - 20 * HORIZON, False, 1), (DAY.start_ms - 2 * HORIZON, True, 2)]
    assert crusher.lifecycle[1].maxima == (("feed_rate_tph", 300), ("power_kw", 800))
    assert [s.value for s in crusher.states] == ["idle", "running", "off", "running"]
    # A quarter read alone equals the same quarter cut from the day's read.
    for label in ("2026-10-05T00:00", "2026-10-05T11:45", "2026-10-05T23:45"):
        quarter = parse_period(label, TZ)
        alone = reader.read(unique_site, *quarter.bounds)
        assert inputs_payload(alone) == inputs_payload(
            slice_inputs(day, *quarter.bounds, HORIZON)), label


def test_close_verify_recompute_report(influx: InfluxSettings, ql: InfluxQL, unique_site: str,
                                       tmp_path: Path) -> None:
    write(influx, Plant.day(unique_site))
    code, out = cli(influx, tmp_path, "close", "--site", unique_site, "--period", "2026-10-05")
    assert code == 0, out
    assert out.count("closed") == 96 + 24 + 1
    series = ql.query(f'SELECT "electricity_kwh", "co2_total_kg", "coverage" FROM {MEASUREMENT} '
                      'WHERE site = $site AND "level" = \'site\' GROUP BY "period"',
                      {"site": unique_site})
    by_period = {s.tags["period"]: s.values for s in series}
    assert len(by_period["15m"]) == 96 and len(by_period["1h"]) == 24
    assert by_period["1d"] == [[DAY.start_ms, 11520, pytest.approx(13912.0992), 1]]
    assert sum(v[1] for v in by_period["15m"]) == pytest.approx(11520)

    code, out = cli(influx, tmp_path, "close", "--site", unique_site, "--period", "2026-10-05")
    assert (code, out.count("unchanged")) == (0, 121)
    code, summary = cli(influx, tmp_path, "close", "--site", unique_site, "--period",
                        "2026-10-05", stream="stderr")
    assert summary.startswith(f"{unique_site}: 121 periods in ") and "(121 unchanged)" in summary
    code, out = cli(influx, tmp_path, "verify")
    assert (code, out.startswith("ok: 121 records")) == (0, True), out
    code, out = cli(influx, tmp_path, "recompute", "--site", unique_site, "--period",
                    "2026-10-05")
    assert (code, out.startswith("identical")) == (0, True), out

    code, out = cli(influx, tmp_path, "report", "--site", unique_site, "--period", "2026-10-05")
    report = json.loads(out)
    assert Decimal(report["emissions_kg"]["total"]) == Decimal("13912.0992")
    assert report["grid_factor"] == {"factor_id": "grid.henan.2023.mee-2025-47",
                                     "tried": ["henan"], "stale_data_year": 2023}
    henan = next(f for f in report["factors"] if f["id"] == "grid.henan.2023.mee-2025-47")
    assert henan["status"] == "V-1" and henan["warning"]
    with sqlite3.connect(tmp_path / "ledger.sqlite") as connection:
        head, seq = connection.execute(
            "SELECT hash, seq FROM ledger WHERE period = '2026-10-05'").fetchone()
    assert report["ledger"]["record_hash"] == head
    code, out = cli(influx, tmp_path, "report", "--site", unique_site, "--period", "2026-10-05",
                    "--baseline", "2026-10")
    enpi = json.loads(out)["enpi"]
    assert enpi["ratio_kwh_per_t"] == report["energy"]["sec_kwh_per_t"]
    assert enpi["baseline_days"] == 1  # only the 5th of October is closed
    assert enpi["regression"].startswith("not enough")
    for fmt in ("csv", "html"):
        code, out = cli(influx, tmp_path, "report", "--site", unique_site, "--period",
                        "2026-10-05", "--format", fmt)
        assert code == 0 and (head in out or fmt == "csv")  # the CSV has figures only

    with sqlite3.connect(tmp_path / "ledger.sqlite") as connection:
        connection.execute("UPDATE ledger SET body = replace(body, '11520', '11519') "
                           "WHERE period = '2026-10-05'")
    code, out = cli(influx, tmp_path, "verify")
    assert (code, out.startswith(f"BROKEN at record {seq}:")) == (1, True), out


def test_a_declared_maximum_and_an_off_state_reach_the_engine_through_influxdb(
        influx: InfluxSettings, ql: InfluxQL, unique_site: str, tmp_path: Path) -> None:
    """The crusher's kWh register drops from 99,900 to 200 within a minute: 300 kWh, which
    the catalogue's 2000 kW allows over the 10-minute rate window (500 kWh) and the 400 kW its
    birth declares does not (100 kWh). The furnace stops reporting at 23:50, last seen off."""
    drop = DAY.start_ms + 600 * MIN
    stop = DAY.end_ms - 10 * MIN

    def plant(site: str, declared: bool) -> Plant:
        made = Plant.day(site)
        made.readings[CRUSHER, "energy_kwh"] = [
            Reading(r.ts, Decimal(99_900) - 5 * (drop - MIN - r.ts) // MIN if r.ts < drop
                    else Decimal(200) + 5 * (r.ts - drop) // MIN)
            for r in made.readings[CRUSHER, "energy_kwh"]]
        made.drop(FURNACE, stop + 1, DAY.end_ms + HORIZON)
        made.state(FURNACE, stop, "off")
        if declared:
            made.birth(CRUSHER, DAY.start_ms - HORIZON * 3, maxima={"power_kw": 400})
        return made

    settings = CarbonSettings(influx=influx, ledger_path=tmp_path / "ledger.sqlite")
    found = {}
    for site, declared in ((unique_site, True), (f"{unique_site}-x", False)):
        write(influx, plant(site, declared))
        with build(settings, FakeClock(DAY.end_ms + HORIZON)) as parts:
            closed = parts.engine.close(site, DAY)
            assert parts.engine.recompute(site, DAY).identical
        rows = closed.computation.content["results"]["rows"]
        crusher = next(r for r in rows if r["device"] == "crusher-1")
        found[declared] = (crusher, closed.computation.content)
    crusher, content = found[True]
    assert "rollover_inferred" not in crusher["flags"]
    assert "reset_undeclared" in crusher["flags"]  # confirmed by the next reading
    assert content["method"]["limits"]["L1/crusher-1/energy_kwh"] == [
        {"source": "birth", "max_per_h": "400"}]
    assert {"device": "L2/furnace-1", "method": "state_off", "amount": "0", "unit": "kWh",
            "quantity": "electricity_kwh"} in content["quality"]["substitutions"]
    furnace = next(r for r in content["results"]["rows"] if r["device"] == "furnace-1")
    assert Decimal(furnace["values"]["electricity_kwh"]) == 3 * (1440 - 10)
    crusher, content = found[False]
    assert "rollover_inferred" in crusher["flags"]
    assert content["method"]["limits"]["L1/crusher-1/energy_kwh"] == [
        {"source": "catalogue", "max_per_h": "2000"}]


def test_late_data_recalculates_and_overwrites(influx: InfluxSettings, ql: InfluxQL,
                                               unique_site: str, tmp_path: Path) -> None:
    plant = Plant.day(unique_site)
    complete = Plant(unique_site, dict(plant.readings))
    hour = parse_period("2026-10-05T10", TZ)
    plant.drop(FURNACE, hour.start_ms + 20 * MIN, hour.start_ms + 50 * MIN)
    write(influx, plant)
    code, out = cli(influx, tmp_path, "close", "--site", unique_site, "--period", hour.label)
    assert (code, out.count("closed")) == (0, 5), out
    write(influx, complete)  # the agent's buffer arrives
    code, out = cli(influx, tmp_path, "close", "--site", unique_site, "--period", hour.label)
    assert code == 0, out
    outcomes = sorted(line.split("\t")[:3][0] + " " + line.split("\t")[2]
                      for line in out.splitlines() if not line.startswith("\t"))
    assert "\treason: inputs changed" in out
    # 10:15-10:30 and 10:30-10:45 held bridged gap time and change; so does the hour.
    assert outcomes == ["recalculated 2026-10-05T10", "recalculated 2026-10-05T10:15",
                        "recalculated 2026-10-05T10:30", "recalculated 2026-10-05T10:45",
                        "unchanged 2026-10-05T10:00"]
    series = ql.query(f'SELECT "substituted_share", "electricity_kwh" FROM {MEASUREMENT} WHERE '
                      'site = $site AND "device" = \'furnace-1\' AND "period" = \'1h\'',
                      {"site": unique_site})
    assert series[0].values == [[hour.start_ms, 0, 180]]
    assert cli(influx, tmp_path, "verify")[0] == 0
    assert len(sub_periods(hour, Granularity.QUARTER, TZ)) == 4


def test_runner_closes_due_periods_from_influx(influx: InfluxSettings, ql: InfluxQL,
                                               unique_site: str, tmp_path: Path) -> None:
    write(influx, Plant.day(unique_site))
    settings = CarbonSettings(influx=influx, ledger_path=tmp_path / "ledger.sqlite",
                              backfill_s=3600, recheck_s=0, allowed_lateness_s=0)
    clock = FakeClock(DAY.start_ms + 2 * 3_600_000)
    with build(settings, clock) as parts:
        runner = Runner(parts, settings, clock)
        closed = runner.run_once()
        # 01:00-02:00 is due: four quarters and the hour; (5 + 3) kWh x 60 min = 480 kWh.
        assert sorted(c.period.label for c in closed) == [
            "2026-10-05T01", "2026-10-05T01:00", "2026-10-05T01:15", "2026-10-05T01:30",
            "2026-10-05T01:45"]
        assert runner.healthz()["ok"]
        assert runner.run_once() == []
    hourly = ql.query(f'SELECT "electricity_kwh" FROM {MEASUREMENT} WHERE site = $site AND '
                      '"level" = \'site\' AND "period" = \'1h\'', {"site": unique_site})
    assert hourly[0].values == [[DAY.start_ms + 3_600_000, 480]]
