"""Closing periods with fakes: figures, idempotence, late data, recompute, substitutions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from carbon.closing import Accounting, code_version
from carbon.engine import Engine
from carbon.ledger import Ledger, MemoryStore
from carbon.periods import Granularity, parse_period
from carbon.registry import load_registry
from carbon.service import Parts, Runner
from carbon.settings import CarbonSettings
from tests.carbon.plant import (
    CRUSHER,
    DAY,
    FURNACE,
    HORIZON,
    MIN,
    TZ,
    FakeSink,
    FakeSource,
    Plant,
)
from tests.support.clock import FakeClock

D = Decimal
SITE = "site-a"


def make_engine(plant: Plant, ledger: Ledger | None = None) -> tuple[Engine, FakeSink, Ledger]:
    settings = CarbonSettings()
    accounting = Accounting(settings.params(), "henan", "equivalent", "input",
                            settings.config_hash(), code_version())
    sink, ledger = FakeSink(), ledger or Ledger(MemoryStore())
    engine = Engine(FakeSource(plant), sink, ledger, load_registry(), accounting, TZ, HORIZON,
                    FakeClock(DAY.end_ms + 3_600_000))
    return engine, sink, ledger


def row(values: Any, level: str, name: str | None = None) -> dict[str, Any]:
    rows = values.content["results"]["rows"]
    key = "device" if level == "device" else "line"
    return next(r for r in rows if r["level"] == level and (name is None or r[key] == name))


def test_a_day_of_the_synthetic_plant() -> None:
    engine, sink, ledger = make_engine(Plant.day(SITE))
    closed = engine.close(SITE, DAY)
    assert closed.outcome == "closed"
    site = row(closed.computation, "site")["values"]
    # 1440 min x (5 + 3) kWh = 11,520 kWh; the meter is redundant and not added.
    assert D(site["electricity_kwh"]) == 11520
    # Scope 2: 11,520 x 0.5897 = 6793.344 kg. Gas 1440 x 2 = 2880 Nm3 x 2.1622 = 6227.136 kg;
    # diesel 1440 x 0.2 = 288 kg x 3.0959 = 891.6192 kg; Scope 1 = 7118.7552 kg.
    assert D(site["co2_electricity_kg"]) == D("6793.344")
    assert D(site["co2_scope1_kg"]) == D("7118.7552")
    # Input 1440 x 2.05 = 2952 t; intensity (7118.7552 + 6793.344) / 2952 kg/t.
    assert D(site["input_t"]) == 2952
    assert D(site["intensity_kg_per_t"]) == (D("7118.7552") + D("6793.344")) / 2952
    assert (D(site["coverage"]), D(site["substituted_share"])) == (D(1), D(0))
    assert row(closed.computation, "line", "L2")["domain"] == "recycled_metals"
    assert row(closed.computation, "site")["domain"] == "mixed"
    assert ledger.verify().ok
    levels = sorted(dict(p.tags)["level"] for p in sink.points)
    assert levels == ["device", "device", "line", "line", "site"]


def test_closing_again_is_unchanged_and_writes_nothing() -> None:
    engine, sink, _ = make_engine(Plant.day(SITE))
    engine.close(SITE, DAY)
    written = len(sink.points)
    assert engine.close(SITE, DAY).outcome == "unchanged"
    assert len(sink.points) == written


def test_late_data_reopens_the_period_through_a_recalculation() -> None:
    plant = Plant.day(SITE)
    gap = parse_period("2026-10-05T10:00", TZ)
    complete = plant.readings.copy()
    plant.drop(FURNACE, gap.start_ms - 5 * MIN, gap.end_ms + 5 * MIN)
    engine, _, ledger = make_engine(plant)
    first = engine.close(SITE, gap)
    furnace = row(first.computation, "device", "furnace-1")
    # The 25-minute gap (09:55-10:20) is bridged: 15 of its 25 minutes fall in 10:00-10:15,
    # so 3 kWh x 25 x 15/25 = 45 kWh, all of it substituted; the total stays exact.
    assert D(furnace["values"]["electricity_kwh"]) == 45
    assert D(furnace["values"]["substituted_share"]) == 1
    assert "gap_bridged" in furnace["flags"]
    plant.readings = complete  # the buffered readings arrive late
    second = engine.close(SITE, gap)
    assert second.outcome == "recalculated"
    assert second.record.data()["supersedes"] == first.record.hash
    again = row(second.computation, "device", "furnace-1")["values"]
    assert (D(again["electricity_kwh"]), D(again["substituted_share"])) == (D(45), D(0))
    assert ledger.verify().ok


def test_recompute_is_byte_identical() -> None:
    engine, _, _ = make_engine(Plant.day(SITE))
    engine.close(SITE, DAY)
    result = engine.recompute(SITE, DAY)
    assert result.identical and result.inputs_identical


def test_declared_reset_keeps_the_day_total() -> None:
    plant = Plant.day(SITE)
    plant.reset(CRUSHER, "energy_kwh", DAY.start_ms + 600 * MIN)
    engine, _, _ = make_engine(plant)
    crusher = row(engine.close(SITE, DAY).computation, "device", "crusher-1")
    assert D(crusher["values"]["electricity_kwh"]) == 7200
    assert "reset" in crusher["flags"]
    assert crusher["events"][0][1:3] == ["energy_kwh", "reset"]


def test_declared_rollover_keeps_the_day_total() -> None:
    plant = Plant.day(SITE)
    plant.roll_over(FURNACE, "gas_nm3", D(3000))
    engine, _, _ = make_engine(plant)
    furnace = row(engine.close(SITE, DAY).computation, "device", "furnace-1")
    # Gas counts 2 Nm3/min from 1020 at 00:00 and reaches 3000 at 16:30, where it shows 0;
    # 1980 before and 900 after: the day still adds up to 1440 x 2 = 2880 Nm3.
    assert D(furnace["values"]["natural_gas_nm3"]) == 2880
    assert "rollover" in furnace["flags"]


def test_dead_device_is_filled_from_the_redundant_line_meter() -> None:
    plant = Plant.day(SITE)
    plant.drop(CRUSHER, DAY.end_ms - 60 * MIN + 1, DAY.end_ms + HORIZON)  # keeps 23:00
    engine, _, _ = make_engine(plant)
    crusher = row(engine.close(SITE, DAY).computation, "device", "crusher-1")["values"]
    # 23 h x 300 kWh measured; the last hour from meter-1: 60 x 5.5 = 330 kWh (meter includes
    # auxiliaries, so the fill errs high); 6900 + 330 = 7230, 330/7230 substituted.
    assert D(crusher["electricity_kwh"]) == 7230
    assert D(crusher["substituted_share"]) == D(330) / 7230
    assert D(crusher["coverage"]) == D(23) / 24


def test_without_a_meter_the_edge_estimate_is_bounded() -> None:
    plant = Plant.day(SITE)
    plant.drop(FURNACE, DAY.end_ms - 60 * MIN, DAY.end_ms + HORIZON)
    engine, _, _ = make_engine(plant)
    closed = engine.close(SITE, DAY)
    furnace = row(closed.computation, "device", "furnace-1")
    # The furnace stops reporting after 22:59: measured 1379 min x 3 kWh = 4137; after its
    # last reading only the rest of its quarter (1 min, 3 kWh) is estimated at its nearest
    # rate; the other hour stays uncovered: the device's own data supports no more.
    assert D(furnace["values"]["electricity_kwh"]) == 4137 + 3
    assert "estimated" in furnace["flags"] and "uncovered" in furnace["flags"]
    quality = closed.record.data()["quality"]
    assert quality["missing_hours"] == [22, 23]


def test_power_mismatch_raises_an_alarm() -> None:
    plant = Plant.day(SITE)
    plant.readings[FURNACE, "power_kw"] = [
        type(r)(r.ts, D(90)) for r in plant.readings[FURNACE, "power_kw"]]
    engine, _, _ = make_engine(plant)
    furnace = row(engine.close(SITE, parse_period("2026-10-05T10", TZ)).computation,
                  "device", "furnace-1")
    # Register 180 kWh in the hour, integrated power 90 kWh: 50 % apart, above 10 %.
    assert "power_mismatch" in furnace["flags"]


def test_month_is_the_sum_of_its_days() -> None:
    engine, _, _ = make_engine(Plant.day(SITE))
    month = row(engine.compute(SITE, parse_period("2026-10", TZ)), "site")["values"]
    days = [row(engine.compute(SITE, parse_period(f"2026-10-{d:02}", TZ)), "site")["values"]
            for d in range(1, 32)]
    for field in ("electricity_kwh", "co2_total_kg", "input_t"):
        assert D(month[field]) == sum(D(day[field]) for day in days)
    # Data exists from 10 minutes before the 5th to 10 minutes after it. The 4th and 6th see
    # readings within the horizon, so their empty hours are estimated at the mean rate
    # (flagged); days with no reading anywhere near contribute nothing.
    assert D(month["electricity_kwh"]) > 11520
    assert D(month["coverage"]) < 1
    assert D(month["substituted_share"]) > 0


@pytest.mark.parametrize("lateness_s", [0, 900])
def test_runner_closes_what_is_due(lateness_s: int) -> None:
    plant = Plant.day(SITE)
    engine, _, ledger = make_engine(plant)
    settings = CarbonSettings(allowed_lateness_s=lateness_s, backfill_s=3600, recheck_s=0)
    clock = FakeClock(parse_period("2026-10-05T12:00", TZ).start_ms + 900_000)
    parts = Parts(engine, ledger, FakeSource(plant), None, None)  # type: ignore[arg-type]
    runner = Runner(parts, settings, clock)
    labels = sorted(c.period.label for c in runner.run_once())
    if lateness_s == 0:
        assert labels == ["2026-10-05T11", "2026-10-05T11:15", "2026-10-05T11:30",
                          "2026-10-05T11:45", "2026-10-05T12:00"]
    else:
        assert labels == ["2026-10-05T11", "2026-10-05T11:15", "2026-10-05T11:30",
                          "2026-10-05T11:45"]
    assert runner.run_once() == []
    assert runner.healthz()["ok"]
    assert Granularity.QUARTER.value == "15m"
