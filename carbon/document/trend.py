"""The trend of a period: its closed sub-periods (hours of a day, days of a month) as read
from the ledger, each with the sequence number of the record it comes from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from carbon.document.content import TrendPoint
from carbon.document.display import exact
from carbon.ledger import StoredRecord
from carbon.periods import Granularity, Period, sub_periods

STEP = {Granularity.DAY: Granularity.HOUR, Granularity.MONTH: Granularity.DAY}
"""A day's trend is hourly, a month's daily; shorter periods have none."""


def trend(period: Period, zone: ZoneInfo,
          latest: Callable[[str], StoredRecord | None]) -> list[TrendPoint]:
    """One point per sub-period; one not closed has no values and no sequence number."""
    step = STEP.get(period.granularity)
    if step is None:
        return []
    return [_point(p.label, latest(p.label)) for p in sub_periods(period, step, zone)]


def point_of(label: str, report: Mapping[str, Any] | None) -> TrendPoint:
    """A sub-period's point from its report (build_report's dict), as spans have them."""
    if report is None:
        return TrendPoint(label, None, None, None, None)
    return TrendPoint(label, exact(report["emissions_kg"]["total"]),
                      exact(report["energy"]["energy_kgce"]),
                      exact(report["data_quality"].get("coverage")),
                      report.get("ledger", {}).get("seq"))


def _point(label: str, record: StoredRecord | None) -> TrendPoint:
    if record is None:
        return TrendPoint(label, None, None, None, None)
    values: dict[str, Any] = next(r for r in record.data()["results"]["rows"]
                                  if r["level"] == "site")["values"]
    return TrendPoint(label, exact(values.get("co2_total_kg")), exact(values.get("energy_kgce")),
                      exact(values.get("coverage")), record.seq)
