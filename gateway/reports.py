"""Carbon reports and the audit ledger, read from the energy-carbon engine's ledger.

The gateway renders nothing itself: reports come from `carbon.report`
(which renders a closed period's newest ledger record) and verification from its `Ledger`,
so the HTTP API shows exactly what `loopmeter carbon report` and `verify` show.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from carbon.ledger import Ledger, StoredRecord, Verification
from carbon.periods import parse_period
from carbon.registry import Registry as FactorRegistry
from carbon.report import Format, build_report, render
from gateway.core.errors import Invalid, NotFound


class CarbonReports:
    def __init__(self, ledger: Ledger, factors: FactorRegistry, zone: ZoneInfo) -> None:
        self._ledger = ledger
        self._factors = factors
        self._zone = zone

    def render(self, site: str, period: str, fmt: Format) -> str:
        """The report of a closed period; NotFound if it has not been closed."""
        return render(build_report(self._latest(site, period), self._factors), fmt)

    def _latest(self, site: str, period: str) -> StoredRecord:
        try:
            label = parse_period(period, self._zone).label
        except ValueError as error:
            raise Invalid(str(error)) from error
        record = self._ledger.latest(site, label)
        if record is None:
            raise NotFound(f"{site} {label} is not closed; the carbon engine closes periods "
                           "once their data is complete")
        return record

    def records(self, site: str | None, period: str | None, after_seq: int,
                limit: int) -> list[StoredRecord]:
        """Records after `after_seq` in chain order, optionally of one site and period."""
        found: list[StoredRecord] = []
        for record in self._ledger.records(after_seq):
            if (site and record.site != site) or (period and record.period != period):
                continue
            found.append(record)
            if len(found) == limit:
                break
        return found

    def record(self, seq: int) -> StoredRecord:
        found = self.records(None, None, seq - 1, 1)
        if not found or found[0].seq != seq:
            raise NotFound(f"no ledger record {seq}")
        return found[0]

    def verify(self) -> Verification:
        return self._ledger.verify()
