"""Reporting periods: 15 minutes, hour, day, month and year, in the site's local time. Pure.

A period is [start, end) in epoch milliseconds and has a label that names it uniquely:
`2026` (year), `2026-10` (month), `2026-10-05` (day), `2026-10-05T13` (hour),
`2026-10-05T13:15`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Granularity(StrEnum):
    QUARTER = "15m"
    HOUR = "1h"
    DAY = "1d"
    MONTH = "1mo"
    YEAR = "1y"


_LABELS = {
    Granularity.YEAR: (re.compile(r"^\d{4}$"), "%Y"),
    Granularity.MONTH: (re.compile(r"^\d{4}-\d{2}$"), "%Y-%m"),
    Granularity.DAY: (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    Granularity.HOUR: (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$"), "%Y-%m-%dT%H"),
    Granularity.QUARTER: (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:(00|15|30|45)$"), "%Y-%m-%dT%H:%M"),
}


@dataclass(frozen=True, slots=True, order=True)
class Period:
    start_ms: int
    end_ms: int
    granularity: Granularity
    label: str

    @property
    def bounds(self) -> tuple[int, int]:
        return self.start_ms, self.end_ms


def parse_period(label: str, tz: ZoneInfo) -> Period:
    """The period a label names; ValueError if the label matches no granularity."""
    for granularity, (pattern, fmt) in _LABELS.items():
        if pattern.match(label):
            try:
                moment = datetime.strptime(label, fmt)
            except ValueError:  # the right shape, but no such date (2026-13, 2026-02-30)
                break
            return period_at(moment.replace(tzinfo=tz), granularity)
    raise ValueError(f"{label!r} is not a period: use 2026, 2026-10, 2026-10-05, "
                     "2026-10-05T13 or 2026-10-05T13:15")


def period_containing(ts_ms: int, granularity: Granularity, tz: ZoneInfo) -> Period:
    return period_at(datetime.fromtimestamp(ts_ms / 1000, tz), granularity)


def period_at(moment: datetime, granularity: Granularity) -> Period:
    start = _floor(moment, granularity)
    end = _next(start, granularity)
    return Period(_ms(start), _ms(end), granularity,
                  start.strftime(_LABELS[granularity][1]))


def periods_between(start_ms: int, end_ms: int, granularity: Granularity,
                    tz: ZoneInfo) -> Iterator[Period]:
    """Every whole period of `granularity` inside [start_ms, end_ms), in order."""
    period = period_containing(start_ms, granularity, tz)
    if period.start_ms < start_ms:
        period = period_containing(period.end_ms, granularity, tz)
    while period.end_ms <= end_ms:
        yield period
        period = period_containing(period.end_ms, granularity, tz)


def sub_periods(period: Period, granularity: Granularity, tz: ZoneInfo) -> list[Period]:
    return list(periods_between(period.start_ms, period.end_ms, granularity, tz))


def with_sub_periods(period: Period, tz: ZoneInfo) -> list[Period]:
    """Every shorter period inside `period`, shortest first, then `period` itself; a year
    brings its months only (its days are closed day by day, 35,000 quarters at once would
    be a slip, not a request)."""
    if period.granularity is Granularity.YEAR:
        return [*sub_periods(period, Granularity.MONTH, tz), period]
    order = list(Granularity)
    shorter = order[:order.index(period.granularity)]
    return [p for g in shorter for p in sub_periods(period, g, tz)] + [period]


def _floor(moment: datetime, granularity: Granularity) -> datetime:
    moment = moment.replace(second=0, microsecond=0)
    if granularity is Granularity.QUARTER:
        return moment.replace(minute=moment.minute - moment.minute % 15)
    moment = moment.replace(minute=0)
    if granularity is Granularity.HOUR:
        return moment
    moment = moment.replace(hour=0)
    if granularity is Granularity.DAY:
        return moment
    moment = moment.replace(day=1)
    return moment if granularity is Granularity.MONTH else moment.replace(month=1)


def _next(start: datetime, granularity: Granularity) -> datetime:
    if granularity is Granularity.YEAR:
        return start.replace(year=start.year + 1)
    if granularity is Granularity.MONTH:
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start.replace(year=year, month=month)
    step = {Granularity.QUARTER: timedelta(minutes=15), Granularity.HOUR: timedelta(hours=1),
            Granularity.DAY: timedelta(days=1)}[granularity]
    # Wall-clock arithmetic, then back through the zone (DST-safe for zones that have it).
    naive = start.replace(tzinfo=None) + step
    return naive.replace(tzinfo=start.tzinfo)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
