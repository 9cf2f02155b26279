"""A closed period's report in any format, from the ledger, the factor registry and the
site's profile: what both `loopmeter carbon report` and the gateway call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from adapters.pdf import PdfSettings, html_to_pdf
from carbon.document.content import TrendPoint, build_document
from carbon.document.page import render_html
from carbon.document.span import Span, combine
from carbon.document.spreadsheet import render_csv
from carbon.document.trend import point_of, trend
from carbon.ledger import Ledger, PublicKeys, Verification, record_verification
from carbon.periods import Period
from carbon.registry import Registry
from carbon.report import build_report, render
from contract.site_profile import SiteProfile, load_profiles

Format = Literal["json", "csv", "html", "pdf"]
FORMATS: tuple[str, ...] = get_args(Format)


def recompute_command(site: str, label: str, parts: Sequence[str] = ()) -> str:
    """How an auditor reproduces the report: its record, or each record a span sums."""
    if parts:
        return (f"for p in {' '.join(parts)}; do loopmeter carbon recompute --site {site} "
                "--period $p; done")
    return f"loopmeter carbon recompute --site {site} --period {label}"


def render_document(report: Mapping[str, Any], fmt: Format, *, profile: SiteProfile | None,
                    points: Sequence[TrendPoint], zone: ZoneInfo,
                    pdf: PdfSettings | None = None) -> bytes:
    """`report` (build_report's dict) as the bytes of `fmt`."""
    if fmt == "json":
        full = {**report, "reporting_entity": profile.model_dump(mode="json") if profile
                else None}
        return render(full, "json").encode("utf-8")
    doc = build_document(report, profile, points)
    if fmt == "csv":
        return render_csv(doc).encode("utf-8")
    parts = [str(r["period"]) for r in report.get("ledger", {}).get("records", [])]
    page = render_html(doc, zone, recompute_command(doc.site, doc.period_label, parts))
    if fmt == "html":
        return page.encode("utf-8")
    return html_to_pdf(page, pdf or PdfSettings())


class Reports:
    """Reports of closed periods; LookupError when the period has not been closed."""

    def __init__(self, ledger: Ledger, registry: Registry, zone: ZoneInfo,
                 profiles: Path, pdf: PdfSettings, keys: PublicKeys | None = None) -> None:
        self._ledger, self._registry, self._zone = ledger, registry, zone
        self._profiles, self._pdf, self._keys = profiles, pdf, keys

    def verify(self) -> Verification:
        """The whole chain, checked once for every report that states it."""
        return self._ledger.verify(self._keys)

    def content(self, site: str, period: Period,
                verification: Verification | None = None) -> dict[str, Any]:
        """build_report's dict of the period's newest record, with what the chain check says
        of that record (checked now unless `verification` is given)."""
        record = self._ledger.latest(site, period.label)
        if record is None:
            raise LookupError(f"{site} {period.label} is not closed")
        check = verification if verification is not None else self.verify()
        return build_report(record, self._registry, record_verification(check, record))

    def span_content(self, site: str, span: Span) -> tuple[dict[str, Any], list[TrendPoint]]:
        """A run of days or months (or a year) as the sum of its closed records, and one
        trend point per part; LookupError if none is closed."""
        check = self.verify()
        parts = [(p, self._closed(site, p, check)) for p in span.parts]
        return combine(span, parts), [point_of(p.label, r) for p, r in parts]

    def render_span(self, site: str, span: Span, fmt: Format,
                    content: tuple[dict[str, Any], list[TrendPoint]] | None = None) -> bytes:
        report, points = content if content is not None else self.span_content(site, span)
        profile = load_profiles(self._profiles).get(site)
        return render_document(report, fmt, profile=profile, points=points, zone=self._zone,
                               pdf=self._pdf)

    def _closed(self, site: str, period: Period,
                check: Verification) -> dict[str, Any] | None:
        try:
            return self.content(site, period, check)
        except LookupError:
            return None

    def render(self, site: str, period: Period, fmt: Format,
               content: Mapping[str, Any] | None = None) -> bytes:
        report = content if content is not None else self.content(site, period)
        points = trend(period, self._zone, lambda label: self._ledger.latest(site, label))
        # Read per report: the operator edits the files, and a bad one must say so here.
        profile = load_profiles(self._profiles).get(site)
        return render_document(report, fmt, profile=profile, points=points, zone=self._zone,
                               pdf=self._pdf)
