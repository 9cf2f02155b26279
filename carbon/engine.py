"""Closing periods: read raw data, compute, write `energy_carbon`, append to the ledger.

The shell around the pure core. Dependencies come in through the constructor: a telemetry
source, a point sink, the ledger and a clock, so that tests can drive it with fakes or with
the real InfluxDB.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from adapters.clock import Clock
from carbon.activity import SiteInputs, slice_inputs
from carbon.canonical import canonical
from carbon.closing import (
    Accounting,
    Computation,
    Memo,
    compute,
    describe,
    differences,
    period_payload,
)
from carbon.influx_io import UNKNOWN_REGION, points
from carbon.ledger import Ledger, StoredRecord
from carbon.periods import Granularity, Period, period_containing, sub_periods
from carbon.registry import Registry
from contract.points import Point

log = logging.getLogger(__name__)
Outcome = Literal["closed", "recalculated", "unchanged"]
# Computed from their days, each read separately, so memory stays bounded.
_BY_DAYS = frozenset({Granularity.MONTH, Granularity.YEAR})


class Source(Protocol):
    def read(self, site: str, start_ms: int, end_ms: int) -> SiteInputs: ...

    def sites(self) -> list[str]: ...


class Sink(Protocol):
    def write(self, points: Sequence[Point], database: str | None = None) -> None: ...


class Signer(Protocol):
    def sign(self, site: str, record_hash: str) -> str | None:
        """The signature of a record of `site`, or None when the site has no key."""
        ...


@dataclass(frozen=True, slots=True)
class Closed:
    period: Period
    outcome: Outcome
    record: StoredRecord
    computation: Computation


@dataclass(frozen=True, slots=True)
class Recomputed:
    record: StoredRecord
    computation: Computation
    identical: bool
    inputs_identical: bool
    changes: tuple[dict[str, Any], ...] = ()


class Engine:
    def __init__(self, source: Source, sink: Sink, ledger: Ledger, registry: Registry,
                 accounting: Accounting, tz: ZoneInfo, horizon_ms: int, clock: Clock,
                 signer: Signer | None = None,
                 regions: Callable[[str], str] | None = None) -> None:
        self._source = source
        self._sink = sink
        self._ledger = ledger
        self._registry = registry
        self._accounting = accounting
        self._tz = tz
        self._horizon_ms = horizon_ms
        self._clock = clock
        self._signer = signer
        self._regions = regions

    def compute(self, site: str, period: Period, day: SiteInputs | None = None,
                memo: Memo | None = None) -> Computation:
        """Figures for a period from raw data, as the sum of its quarters (so an hour, a day,
        a month are always the sums of theirs); `day` is an earlier read that contains it,
        `memo` the quarters already computed from it."""
        return compute(period, self._chunks(site, period, day, memo), self._registry,
                       self._accounting, self._tz, memo)

    def close(self, site: str, period: Period, day: SiteInputs | None = None,
              memo: Memo | None = None) -> Closed:
        """Close a period, or recalculate it if its inputs, factors, method or results
        changed since it was closed; a recalculation record names every change."""
        computation = self.compute(site, period, day, memo)
        previous = self._ledger.latest(site, period.label)
        changes = differences(previous.data(), computation.content) if previous else []
        if previous and not changes:
            return Closed(period, "unchanged", previous, computation)
        self._write(site, computation)
        content = dict(computation.content)
        if previous:
            content["recalculation"] = {"reason": describe(changes), "changes": changes}
        record = self._ledger.append(
            site=site, period=period_payload(period),
            kind="recalculation" if previous else "close", content=content,
            recorded_ms=self._clock.now_ms(), supersedes=previous.hash if previous else None)
        signature = self._signer.sign(site, record.hash) if self._signer else None
        if signature is not None:
            self._ledger.sign(record, signature)
        outcome: Outcome = "recalculated" if previous else "closed"
        # Per period at DEBUG: `carbon run` logs a summary per pass, `carbon close` prints each.
        log.debug("%s %s %s: %s", outcome, site, period.label, record.hash)
        _log_meter_events(site, computation)
        return Closed(period, outcome, record, computation)

    def close_all(self, site: str, periods: Iterable[Period],
                  on_closed: Callable[[Closed], object] | None = None) -> list[Closed]:
        """Close several periods, reading each day of raw data once; `on_closed` sees each."""
        by_day: dict[Period, list[Period]] = {}
        for period in sorted(periods):
            key = (period if period.granularity in _BY_DAYS
                   else period_containing(period.start_ms, Granularity.DAY, self._tz))
            by_day.setdefault(key, []).append(period)
        closed = []
        for day, members in sorted(by_day.items()):
            inputs = (None if day.granularity in _BY_DAYS
                      else self._source.read(site, day.start_ms, day.end_ms))
            memo: Memo = {}
            for period in members:
                closed.append(self.close(site, period, inputs, memo))
                if on_closed is not None:
                    on_closed(closed[-1])
        return closed

    def recompute(self, site: str, period: Period) -> Recomputed:
        """Reproduce a closed period from raw data and compare it with its ledger record."""
        record = self._ledger.latest(site, period.label)
        if record is None:
            raise LookupError(f"{site} {period.label} has no ledger record")
        computation = self.compute(site, period)
        stored = record.data()
        return Recomputed(record, computation,
                          canonical(stored["results"]) == computation.results_text,
                          stored["inputs_digest"] == computation.content["inputs_digest"],
                          tuple(differences(stored, computation.content)))

    def _chunks(self, site: str, period: Period, day: SiteInputs | None,
                memo: Memo | None) -> Iterator[SiteInputs]:
        """The period's quarters, cut from one read per day (a day at a time for months and
        years, so memory stays bounded)."""
        if period.granularity in _BY_DAYS:
            for each in sub_periods(period, Granularity.DAY, self._tz):
                yield from self._quarters(self._source.read(site, each.start_ms, each.end_ms),
                                          each, None)
            return
        yield from self._quarters(
            day if day is not None else self._source.read(site, period.start_ms,
                                                          period.end_ms), period, memo)

    def _quarters(self, read: SiteInputs, period: Period,
                  memo: Memo | None) -> Iterator[SiteInputs]:
        for quarter in sub_periods(period, Granularity.QUARTER, self._tz):
            if memo is not None and (quarter.start_ms, quarter.end_ms) in memo:
                # Computed already from this read: `closing` looks it up by its bounds alone.
                yield SiteInputs(read.site, quarter.start_ms, quarter.end_ms, ())
            else:
                yield slice_inputs(read, quarter.start_ms, quarter.end_ms, self._horizon_ms)

    def _write(self, site: str, computation: Computation) -> None:
        grid = computation.factors.grid
        quality = computation.content.get("quality")
        verdict = quality.get("verdict") if isinstance(quality, Mapping) else None
        self._sink.write(points(site, computation.period, computation.rows,
                                grid.factor.id if grid else "none",
                                self._accounting.convention,
                                self._regions(site) if self._regions else UNKNOWN_REGION,
                                verdict if isinstance(verdict, str) else None))


def _log_meter_events(site: str, computation: Computation) -> None:
    """Counter events and alarms, one log line each, from quarters only (longer periods
    contain the same events again)."""
    if computation.period.granularity is not Granularity.QUARTER:
        return
    for row in computation.rows:
        for event in row.activity.events if row.level == "device" else ():
            log.warning("meter event %s/%s %s %s at %s: %s", site, event.device, event.metric,
                        event.flag, _utc(event.ts), event.detail)


def _utc(ms: int) -> str:
    """A timestamp a person reads (UTC, to the second), not epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
