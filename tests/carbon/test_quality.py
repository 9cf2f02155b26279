"""The quality verdict, the factor values and the method kept in every record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from carbon.closing import Accounting, code_version
from carbon.engine import Engine
from carbon.ledger import Ledger, MemoryStore
from carbon.registry import Registry, load_registry
from carbon.report import build_report
from carbon.settings import CarbonSettings
from tests.carbon.plant import (
    CRUSHER,
    DAY,
    HORIZON,
    MIN,
    TZ,
    FakeSink,
    FakeSource,
    Plant,
)
from tests.support.clock import FakeClock

SITE = "site-q"
HOUR = 60 * MIN


def engine_for(plant: Plant, registry: Registry | None = None) -> tuple[Engine, Ledger]:
    settings = CarbonSettings()
    accounting = Accounting(settings.params(), "henan", "equivalent", "input",
                            settings.config_hash(), code_version())
    ledger = Ledger(MemoryStore())
    engine = Engine(FakeSource(plant), FakeSink(), ledger, registry or load_registry(),
                    accounting, TZ, HORIZON, FakeClock(DAY.end_ms + HOUR))
    return engine, ledger


def quality_of(plant: Plant, registry: Registry | None = None) -> dict[str, Any]:
    engine, _ = engine_for(plant, registry)
    quality: dict[str, Any] = engine.close(SITE, DAY).record.data()["quality"]
    return quality


def test_full_day_is_estimated_only_for_its_stale_grid_factor() -> None:
    # Every minute read; the 2026 grid factor is not announced yet, so Henan 2023 is used
    # and named: the only reason the day is not `complete`.
    quality = quality_of(Plant.day(SITE))
    assert quality["verdict"] == "estimated"
    assert quality["reasons"] == ["stale_factor:2023"]
    assert (quality["coverage"], quality["substitutions"], quality["missing_hours"],
            quality["anomalies"]) == ("1", [], [], [])


def test_a_lost_hour_is_listed_with_its_substitution() -> None:
    # The crusher reports nothing from 03:00 to 04:00: the counter difference across the
    # gap keeps the day's total exact; the day names the hours and the hour lists the
    # bridged amount.
    plant = Plant.day(SITE)
    plant.drop(CRUSHER, DAY.start_ms + 3 * HOUR, DAY.start_ms + 4 * HOUR)
    quality = quality_of(plant)
    # The gap runs from the last reading (02:59) to the next (04:00): hours 2 and 3.
    assert quality["missing_hours"] == [2, 3]
    assert quality["verdict"] == "estimated"
    hour = parse_hour(plant, 3)
    assert hour["verdict"] == "not_fit"
    methods = {(s["device"], s["method"], s["unit"]) for s in hour["substitutions"]}
    assert ("L1/crusher-1", "gap_bridged", "kWh") in methods
    energy = next(s for s in hour["substitutions"]
                  if s["unit"] == "kWh" and s["device"] == "L1/crusher-1")
    assert Decimal(energy["amount"]) == 5 * 60  # 5 kWh a minute, the whole hour


def parse_hour(plant: Plant, hour: int) -> dict[str, Any]:
    from carbon.periods import parse_period
    engine, _ = engine_for(plant)
    period = parse_period(f"2026-10-05T{hour:02d}", TZ)
    quality: dict[str, Any] = engine.close(SITE, period).record.data()["quality"]
    return quality


def test_no_grid_factor_makes_the_period_not_fit() -> None:
    registry = load_registry()
    no_grid = Registry([f for f in registry.factors if f.kind.value != "grid_co2"])
    quality = quality_of(Plant.day(SITE), no_grid)
    assert quality["verdict"] == "not_fit"
    assert "no_factor:co2:electricity_kwh" in quality["reasons"]


def test_report_reads_factor_values_from_the_record() -> None:
    # The registry is edited in place after close, then a factor removed: the report keeps
    # printing what the figures were computed with.
    engine, ledger = engine_for(Plant.day(SITE))
    engine.close(SITE, DAY)
    record = ledger.latest(SITE, DAY.label)
    assert record is not None
    emptied = Registry([f for f in load_registry().factors if f.kind.value == "kgce"])
    report = build_report(record, emptied)
    grid = next(v for v in report["factor_values"] if v["id"].startswith("grid.henan"))
    assert (grid["value"], grid["data_year"]) == ("0.5897", 2023)
    assert report["quality"]["verdict"] == "estimated"
    assert report["verification"]["chain"] == "ok"
    method = record.data()["method"]
    assert method["params"]["min_coverage"] == "0.95"


def test_a_year_and_kgce_per_tonne() -> None:
    # The plant's one day of data (from 10 min before to 10 min after it) is the whole year's:
    # 1460 min x 8 kWh, plus the rest of the edge quarters (23:45-23:50 before, 00:10-00:15
    # after: 5 min each) at the nearest rate, and nothing for the rest of the year, which is
    # uncovered (not fit). Per tonne of
    # input: L2 (furnace) 1440 x 3 kWh x 0.1229 + 2880 Nm3 x 1.33 = 4361.328 kgce over
    # 72 t = 60.574 kgce/t (kgce/t: the unit of the national energy-consumption limits).
    from carbon.periods import parse_period
    engine, _ = engine_for(Plant.day(SITE))
    year = engine.compute(SITE, parse_period("2026", TZ))
    day = engine.compute(SITE, DAY)
    site_year = next(r for r in year.content["results"]["rows"] if r["level"] == "site")
    site_day = next(r for r in day.content["results"]["rows"] if r["level"] == "site")
    assert site_day["values"]["electricity_kwh"] == "11520"
    assert site_year["values"]["electricity_kwh"] == str(1460 * 8 + 2 * 5 * 8)
    assert year.content["quality"]["verdict"] == "not_fit"
    line = next(r for r in day.content["results"]["rows"] if r["line"] == "L2"
                and r["level"] == "line")
    assert Decimal(line["values"]["energy_kgce_per_t"]) == Decimal("4361.328") / 72
    assert year.content["quality"]["missing_hours"] == []  # listed for a day only


def test_the_fast_inputs_digest_is_the_canonical_one() -> None:
    from carbon.canonical import digest, digest_plain
    from carbon.closing import inputs_payload
    from carbon.counters import CounterEvent, EventKind
    plant = Plant.day(SITE)
    plant.events.append((CRUSHER, "energy_kwh", CounterEvent(DAY.start_ms, EventKind.RESET,
                                                             Decimal("1.50"), None)))
    payload = inputs_payload(plant.inputs(DAY.start_ms, DAY.start_ms + HOUR))
    assert digest_plain(payload) == digest(payload)


def test_constant_120_kw_sampled_every_two_minutes_raises_no_power_alarm() -> None:
    # The issue's case: power and register every 2 min, constant 120 kW = 2 kWh a minute;
    # 48 of 96 quarters used to be flagged.
    from carbon.counters import Reading
    from tests.carbon.plant import FURNACE, START
    plant = Plant.day(SITE)
    for metric in list(plant.readings):
        if metric[0] == FURNACE:
            plant.readings[metric] = [r for r in plant.readings[metric] if r.ts % (2 * MIN) == 0]
    plant.readings[FURNACE, "power_kw"] = [Reading(r.ts, Decimal(120))
                                           for r in plant.readings[FURNACE, "power_kw"]]
    plant.readings[FURNACE, "energy_kwh"] = [
        Reading(r.ts, START + 2 * Decimal(r.ts - DAY.start_ms) / MIN)
        for r in plant.readings[FURNACE, "energy_kwh"]]
    engine, _ = engine_for(plant)
    closed = engine.close_all(SITE, _quarters())
    flagged = [c.period.label for c in closed
               if any(a["kind"] == "power_mismatch" for a in c.record.data()["quality"]
                      ["anomalies"])]
    assert len(closed) == 96 and flagged == []


def _quarters() -> list[Any]:
    from carbon.periods import Granularity, sub_periods
    return sub_periods(DAY, Granularity.QUARTER, TZ)


def _crusher_energy(plant: Plant) -> list[Any]:
    return plant.readings[CRUSHER, "energy_kwh"]


def _day_kwh(plant: Plant) -> Decimal:
    engine, _ = engine_for(plant)
    rows = engine.close(SITE, DAY).computation.rows
    return next(r.values["electricity_kwh"] for r in rows if r.device == "crusher-1")


def test_issue_cases_at_the_engine_clock_back_and_undeclared_replacement() -> None:
    from carbon.counters import Reading
    # Truth: 5 kWh a minute, 7,200 kWh a day.
    # 1. Clock set back 120 s at 12:00 with the register near 98,437 kWh: the two minutes
    #    after it are stamped again over the two minutes before (interleaved; 30 s of
    #    sampling phase keeps their timestamps apart from the earlier readings').
    plant = Plant.day(SITE)
    noon = DAY.start_ms + 12 * HOUR
    shifted = [Reading(r.ts - 120_000 + 30_000, r.value + 97_000)
               if noon <= r.ts < noon + 2 * MIN else Reading(r.ts, r.value + 97_000)
               for r in _crusher_energy(plant)]
    plant.readings[CRUSHER, "energy_kwh"] = sorted(shifted, key=lambda r: r.ts)
    assert abs(_day_kwh(plant) - 7200) <= 10  # not +99,996 kWh
    # 2. An undeclared meter swap at 14:00: the new meter starts at 500 kWh.
    plant = Plant.day(SITE)
    swap = DAY.start_ms + 14 * HOUR
    at = next(r.value for r in _crusher_energy(plant) if r.ts == swap - MIN)
    plant.readings[CRUSHER, "energy_kwh"] = [
        r if r.ts < swap else Reading(r.ts, r.value - at - 5 + 500)
        for r in _crusher_energy(plant)]
    assert abs(_day_kwh(plant) - 7200) <= 5  # the unknown minute estimated, not +500
