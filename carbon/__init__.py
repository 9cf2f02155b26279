"""The energy-carbon engine: from meter readings to audited kgce and CO2 figures.

Pure core: `registry` (factors as data), `counters` (register deltas), `activity`, `figures`,
`formulas`, `buckets` (a register's increase over a window and per time bucket, for the
gateway), `periods`, `canonical`, `ledger` (logic and stores). Adapters: `influx_io`
(InfluxQL reader, `energy_carbon` points), `ledger.SQLiteStore`. Shell: `engine`, `service`,
`cli`. See docs/carbon.md.

What this module exports is the public API: other packages (the gateway) import only `carbon`,
never its submodules (an import-linter contract in pyproject.toml holds them to it).
"""

from carbon.activity import counts_in_totals, register_increase
from carbon.buckets import BucketIncrease, bucket_increases, window_increase
from carbon.counters import (
    CounterEvent,
    EventKind,
    Flag,
    IntervalResult,
    Reading,
    interval_deltas,
)
from carbon.document import Format as ReportFormat
from carbon.document import Reports
from carbon.document.province import (
    Rollup,
    SiteStanding,
    rollup,
    rollup_csv,
    rollup_json,
    standing,
    standings_csv,
    vars_of,
)
from carbon.document.span import Span, is_span, parse_span
from carbon.engine import Engine
from carbon.influx_io import counter_events, lifecycles
from carbon.ledger import Ledger, LedgerStore, MemoryStore, SQLiteStore, StoredRecord, Verification
from carbon.lifecycle import LifeEvent
from carbon.periods import Granularity, Period, parse_period
from carbon.registry import Factor, Registry, Status, load_registry
from carbon.settings import CarbonSettings
from carbon.signing import SiteKeys

__all__ = [
    "BucketIncrease",
    "CarbonSettings",
    "CounterEvent",
    "Engine",
    "EventKind",
    "Factor",
    "Flag",
    "Granularity",
    "IntervalResult",
    "Ledger",
    "LedgerStore",
    "LifeEvent",
    "MemoryStore",
    "Period",
    "Reading",
    "Registry",
    "ReportFormat",
    "Reports",
    "Rollup",
    "SQLiteStore",
    "SiteKeys",
    "SiteStanding",
    "Span",
    "Status",
    "StoredRecord",
    "Verification",
    "bucket_increases",
    "counter_events",
    "counts_in_totals",
    "interval_deltas",
    "is_span",
    "lifecycles",
    "load_registry",
    "parse_period",
    "parse_span",
    "register_increase",
    "rollup",
    "rollup_csv",
    "rollup_json",
    "standing",
    "standings_csv",
    "vars_of",
    "window_increase",
]
