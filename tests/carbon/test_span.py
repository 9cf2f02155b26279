"""Spans: a run of days or months, or a year, summed from the closed records it lists."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.pdf import PdfSettings
from carbon.document import Reports
from carbon.document.span import combine, is_span, parse_span
from carbon.ledger import Ledger, MemoryStore
from carbon.periods import Granularity, Period
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
                 "本报告为所列账本记录之和",
                 "for p in 2026-10; do loopmeter carbon recompute --site zz --period $p"):
        assert text in page, text


DAY_REPORT = reports()[0].content("zz", parse_span("2026-10-05..2026-10-05", TZ).parts[0])
part_states = st.lists(st.one_of(st.none(), st.tuples(
    st.decimals(min_value=0, max_value=10**6, places=3),
    st.decimals(min_value=0, max_value=1, places=4),
    st.sampled_from(["complete", "estimated", "not_fit"]))), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(part_states)
def test_span_sums_weights_and_judges_its_parts(
        states: list[tuple[Decimal, Decimal, str] | None]) -> None:
    span = parse_span(f"2026-10-01..2026-10-{len(states):02d}", TZ)
    parts: list[tuple[Period, dict[str, Any] | None]] = []
    for period, state in zip(span.parts, states, strict=True):
        if state is None:
            parts.append((period, None))
            continue
        co2, coverage, verdict = state
        report = copy.deepcopy(DAY_REPORT)
        report["emissions_kg"]["total"] = str(co2)
        report["data_quality"]["coverage"] = str(coverage)
        report["quality"]["verdict"] = verdict
        parts.append((period, report))
    closed = [s for s in states if s is not None]
    if not closed:
        with pytest.raises(LookupError):
            combine(span, parts)
        return
    result = combine(span, parts)
    assert Decimal(result["emissions_kg"]["total"]) == sum(c for c, _, _ in closed)
    assert Decimal(result["data_quality"]["coverage"]) == sum(v for _, v, _ in closed) / len(
        states)  # days of equal length: the mean over all parts, a missing one as 0
    worst = ("not_fit" if len(closed) < len(states) or any(v == "not_fit" for *_, v in closed)
             else "estimated" if any(v == "estimated" for *_, v in closed) else "complete")
    assert result["quality"]["verdict"] == worst
