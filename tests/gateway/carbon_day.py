"""A closed day of the carbon engine's synthetic plant, appended to a ledger for the tests.

The figures are the engine's own (tests/carbon/test_engine.py derives them by hand):
11,520 kWh of electricity, 7,118.7552 kg CO2 in Scope 1, 6,793.344 kg in Scope 2.
"""

from __future__ import annotations

from carbon.closing import Accounting, code_version
from carbon.engine import Engine
from carbon.ledger import Ledger, StoredRecord
from carbon.registry import load_registry
from carbon.settings import CarbonSettings
from tests.carbon.plant import DAY, HORIZON, TZ, FakeClock, FakeSink, FakeSource, Plant

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
