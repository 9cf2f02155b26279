"""Carbon reports and the audit ledger, read from the energy-carbon engine's ledger.

The gateway renders nothing itself: reports come from `carbon.Reports`
(which renders a closed period's newest ledger record) and verification from its `Ledger`,
so the HTTP API shows exactly what `loopmeter carbon report` and `verify` show.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.pdf import PdfFailed, PdfSettings
from carbon import (
    Ledger,
    Period,
    ReportFormat,
    Reports,
    Rollup,
    SiteKeys,
    SiteStanding,
    StoredRecord,
    Verification,
    is_span,
    parse_period,
    parse_span,
    rollup,
    standing,
)
from carbon import Registry as FactorRegistry
from contract.site_profile import ProfileError, SiteProfile, load_profiles
from gateway.core.errors import Invalid, NotFound, Unavailable

DAY_LABEL = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CarbonReports:
    def __init__(self, ledger: Ledger, factors: FactorRegistry, zone: ZoneInfo,
                 profiles: Path, pdf: PdfSettings, keys: SiteKeys | None = None) -> None:
        self._ledger = ledger
        self._zone = zone
        self._profiles = profiles
        # With the sites' keys, a report shows whether its record's signature verifies.
        self._reports = Reports(ledger, factors, zone, profiles, pdf,
                                keys.public if keys is not None else None)

    def render(self, site: str, period: str, fmt: ReportFormat) -> bytes:
        """The report of a closed period; NotFound if it has not been closed."""
        try:
            span = parse_span(period, self._zone) if is_span(period) else None
            chosen = span.parts[0] if span is not None else parse_period(period, self._zone)
        except ValueError as error:
            raise Invalid(str(error)) from error
        try:
            if span is not None:
                return self._reports.render_span(site, span, fmt)
            return self._reports.render(site, chosen, fmt)
        except LookupError as error:
            raise NotFound(f"{error}; the carbon engine closes periods once their data is "
                           "complete") from error
        except (ProfileError, PdfFailed) as error:
            raise Unavailable(str(error)) from error

    def standings(self) -> list[SiteStanding]:
        """Every site with a profile or a ledger record: its latest closed day and its state."""
        profiles, check = self._profiles_or_503(), self._reports.verify()
        chain = "ok" if check.ok else "broken"
        rows = []
        for site in sorted(set(profiles) | self._ledger_sites()):
            days = [p for p in self._ledger.closed_periods(site) if DAY_LABEL.match(p)]
            latest = max(days, default=None)
            report = (self._report(site, parse_period(latest, self._zone), check) if latest
                      else None)
            rows.append(standing(site, profiles.get(site), latest, report, chain))
        return rows

    def rollup(self, period: str) -> Rollup:
        """Energy and CO2 of `period` by recycling domain and city, with who is left out."""
        try:
            chosen = parse_period(period, self._zone)
        except ValueError as error:
            raise Invalid(str(error)) from error
        profiles = self._profiles_or_503()
        sites = set(profiles) | self._ledger_sites()
        check = self._reports.verify()
        return rollup(chosen.label, profiles,
                      {site: self._report(site, chosen, check) for site in sites})

    def _report(self, site: str, period: Period,
                check: Verification) -> dict[str, Any] | None:
        try:
            return self._reports.content(site, period, check)
        except LookupError:
            return None

    def _profiles_or_503(self) -> dict[str, SiteProfile]:
        try:
            return load_profiles(self._profiles)
        except ProfileError as error:
            raise Unavailable(str(error)) from error

    def _ledger_sites(self) -> set[str]:
        return {record.site for record in self._ledger.records()}

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
