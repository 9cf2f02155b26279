"""A closed day of the carbon engine's synthetic plant, appended to a ledger for the tests.

The figures are the engine's own (tests/carbon/test_engine.py derives them by hand):
11,520 kWh of electricity, 7,118.7552 kg CO2 in Scope 1, 6,793.344 kg in Scope 2.
"""

from __future__ import annotations

from decimal import Decimal

from carbon.closing import Accounting, code_version
from carbon.counters import Reading
from carbon.engine import Engine
from carbon.ledger import Ledger, StoredRecord
from carbon.periods import Granularity, period_containing, periods_between, sub_periods
from carbon.registry import load_registry
from carbon.settings import CarbonSettings
from tests.carbon.plant import (
    DAY,
    HORIZON,
    MIN,
    RATES,
    START,
    TZ,
    FakeSink,
    FakeSource,
    Plant,
)
from tests.support.clock import FakeClock

LABEL = DAY.label  # 2026-10-05
ELECTRICITY_KWH = "11520"
SCOPE1_KG = "7118.7552"
SCOPE2_KG = "6793.344"
TOTAL_KG = "13912.0992"


def close_day(ledger: Ledger, site: str) -> StoredRecord:
    settings = CarbonSettings()
    accounting = Accounting(settings.params(), "henan", "equivalent", "input",
                            settings.config_hash(), code_version())
    engine = Engine(FakeSource(Plant.day(site)), FakeSink(), ledger, load_registry(),
                    accounting, TZ, HORIZON, FakeClock(DAY.end_ms + 3_600_000))
    return engine.close(site, DAY).record


def plant_days(site: str, days: int, start_ms: int = DAY.start_ms) -> Plant:
    """The synthetic plant running at its constant rates for `days` days from `start_ms` on
    (DAY's start unless given)."""
    plant = Plant(site)
    minutes = range(-10, days * 24 * 60 + 11)
    for device, rates in RATES.items():
        for metric, rate in rates.items():
            gauge = metric == "power_kw"
            plant.readings[device, metric] = [
                Reading(start_ms + m * MIN,
                        Decimal(rate) if gauge else START + Decimal(rate) * (m + 10))
                for m in minutes]
    return plant


def close_days(ledger: Ledger, site: str, days: int, *, hours: bool = True) -> list[StoredRecord]:
    """Close `days` days from DAY on (with their hours), then the month they are in."""
    settings = CarbonSettings()
    accounting = Accounting(settings.params(), "henan", "equivalent", "input",
                            settings.config_hash(), code_version())
    end_ms = DAY.start_ms + days * 86_400_000
    engine = Engine(FakeSource(plant_days(site, days)), FakeSink(), ledger, load_registry(),
                    accounting, TZ, HORIZON, FakeClock(end_ms + 3_600_000))
    chosen = list(periods_between(DAY.start_ms, end_ms, Granularity.DAY, TZ))
    if hours:
        chosen = [p for day in chosen for p in sub_periods(day, Granularity.HOUR, TZ)] + chosen
    chosen.append(period_containing(DAY.start_ms, Granularity.MONTH, TZ))
    return [engine.close(site, p).record for p in chosen]
