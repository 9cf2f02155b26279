"""Carbon reports and the audit ledger, read from the energy-carbon engine's ledger.

The gateway renders nothing itself: reports come from `carbon.Reports`
(which renders a closed period's newest ledger record) and verification from its `Ledger`,
so the HTTP API shows exactly what `loopmeter carbon report` and `verify` show.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.pdf import PdfFailed, PdfSettings
from carbon import Ledger, ReportFormat, Reports, StoredRecord, Verification, parse_period
from carbon import Registry as FactorRegistry
from contract.site_profile import ProfileError
from gateway.core.errors import Invalid, NotFound, Unavailable


class CarbonReports:
    def __init__(self, ledger: Ledger, factors: FactorRegistry, zone: ZoneInfo,
                 profiles: Path, pdf: PdfSettings) -> None:
        self._ledger = ledger
        self._zone = zone
        self._reports = Reports(ledger, factors, zone, profiles, pdf)

    def render(self, site: str, period: str, fmt: ReportFormat) -> bytes:
        """The report of a closed period; NotFound if it has not been closed."""
        try:
            chosen = parse_period(period, self._zone)
        except ValueError as error:
            raise Invalid(str(error)) from error
        try:
            return self._reports.render(site, chosen, fmt)
        except LookupError as error:
            raise NotFound(f"{error}; the carbon engine closes periods once their data is "
                           "complete") from error
        except (ProfileError, PdfFailed) as error:
            raise Unavailable(str(error)) from error

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
