"""Spans: a run of days or months, or a year, summed from the closed records it lists."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.pdf import PdfSettings
from carbon.document import Reports
from carbon.document.span import combine, is_span, parse_span
from carbon.ledger import Ledger, MemoryStore
from carbon.periods import Granularity
from carbon.registry import load_registry
from tests.gateway.carbon_day import TOTAL_KG, close_days

TZ = ZoneInfo("Asia/Shanghai")
SITES = Path(__file__).resolve().parents[1] / "gateway" / "sites"


def test_span_labels() -> None:
    year = parse_span("2026", TZ)
    assert [p.label for p in year.parts] == [f"2026-{m:02d}" for m in range(1, 13)]
    assert year.step is Granularity.MONTH
    days = parse_span("2026-10-30..2026-11-02", TZ)
    assert [p.label for p in days.parts] == ["2026-10-30", "2026-10-31", "2026-11-01",
                                             "2026-11-02"]
    assert (days.start_ms, days.end_ms) == (days.parts[0].start_ms, days.parts[-1].end_ms)
    assert is_span("2026-01..2026-03") and not is_span("2026-01")
    for bad, why in (("2026-10..2026-10-05", "both ends"), ("2026-10-05..2026-10-01", "ends"),
                     ("2025-01-01..2026-12-31", "at most")):
        with pytest.raises(ValueError, match=why):
            parse_span(bad, TZ)


def reports() -> tuple[Reports, Ledger]:
    ledger = Ledger(MemoryStore())
    close_days(ledger, "zz", 3, hours=False)
    return Reports(ledger, load_registry(), TZ, SITES, PdfSettings()), ledger


def test_a_run_of_closed_days_is_their_sum() -> None:
    made, _ = reports()
    report, points = made.span_content("zz", parse_span("2026-10-05..2026-10-07", TZ))
    assert Decimal(report["emissions_kg"]["total"]) == 3 * Decimal(TOTAL_KG)
    day = made.content("zz", parse_span("2026-10-05..2026-10-05", TZ).parts[0])
    assert report["intensity_kg_per_t"] == day["intensity_kg_per_t"]  # ratio of the sums
    assert Decimal(report["data_quality"]["coverage"]) == 1
    assert [r["period"] for r in report["ledger"]["records"]] == [
        "2026-10-05", "2026-10-06", "2026-10-07"]
    assert [p.seq for p in points] == [r["seq"] for r in report["ledger"]["records"]]
    assert report["verification"]["chain"] == "ok"
    lines = {line["line"]: line["values"] for line in report["lines"]}
    assert sum(Decimal(v["co2_total_kg"]) for v in lines.values()) == 3 * Decimal(TOTAL_KG)


def test_a_part_not_closed_is_uncovered_and_not_fit() -> None:
    made, _ = reports()
    span = parse_span("2026-10-04..2026-10-07", TZ)
    report, points = made.span_content("zz", span)
    assert Decimal(report["data_quality"]["coverage"]) == Decimal("0.75")
    assert report["quality"]["verdict"] == "not_fit"
    assert "2026-10-04: not closed" in report["quality"]["reasons"]
    assert points[0].seq is None and points[1].seq is not None
    with pytest.raises(LookupError):
        combine(span, [(p, None) for p in span.parts])


def test_a_year_shows_its_months() -> None:
    made, _ = reports()
    page = made.render_span("zz", parse_span("2026", TZ), "html").decode()
    for text in ("多月合计", "按月 / by month", "2026-10", "未结算 / not closed",
                 "本报告为所列账本记录之和"):
        assert text in page, text
