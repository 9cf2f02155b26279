"""The report document: display rounding, the figures it prints, CSV, HTML sections, trend."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from carbon.document import display as d
from carbon.document.content import EMISSIONS, ENERGY, build_document, energy_by_carrier
from carbon.document.page import missing_hours, render_html
from carbon.document.reports import render_document
from carbon.document.spreadsheet import BOM, HEADER, render_csv
from carbon.document.trend import trend
from carbon.ledger import Ledger, MemoryStore
from carbon.periods import parse_period
from carbon.registry import load_registry
from carbon.report import build_report
from contract.site_profile import load_profile
from tests.gateway.carbon_day import LABEL, TOTAL_KG, close_day, close_days

TZ = ZoneInfo("Asia/Shanghai")
PROFILE = load_profile(Path(__file__).resolve().parents[1] / "gateway" / "sites" / "zz.yaml")
ENGINE_QUALITY = {  # the shape the engine's quality block has (issue 16)
    "verdict": "estimated", "reasons": ["hour 03 interpolated"], "coverage": "0.9583",
    "substitutions": [{"device": "meter-1", "method": "interpolated", "amount": "5.5",
                       "unit": "kWh"}],
    "missing_hours": [3], "anomalies": [{"device": "crusher-1", "kind": "spike", "count": 2}]}


def day_report() -> dict[str, Any]:
    ledger = Ledger(MemoryStore())
    return build_report(close_day(ledger, "zz"), load_registry())


def test_display_rounds_half_to_even_and_groups_thousands() -> None:
    assert d.shown("13912.0992", d.CO2) == "13.912"
    assert d.shown("2.5", d.Rule("t", "t", Decimal(1), 0)) == "2"
    assert d.shown("3.5", d.Rule("t", "t", Decimal(1), 0)) == "4"
    assert d.shown("11520", d.activity_rule("kWh")) == "11,520.0"
    assert d.shown(None, d.CO2) == d.NOT_AVAILABLE == d.shown("n/a", d.CO2)


def test_shares_round_to_the_unfavourable_side() -> None:
    assert d.shown("0.999999", d.COVERAGE) == "99.99"
    assert d.shown("1", d.COVERAGE) == "100.00"
    assert d.shown("0.000001", d.SUBSTITUTED) == "0.01"


@given(st.decimals(min_value=-10**9, max_value=10**9, allow_nan=False, places=6),
       st.sampled_from([d.CO2, d.ENERGY, d.KWH_PER_T, d.COVERAGE, d.SUBSTITUTED]))
def test_a_shown_figure_is_within_one_display_step_of_the_exact(value: Decimal,
                                                                 rule: d.Rule) -> None:
    shown = d.rounded(value, rule)
    assert shown is not None
    step = Decimal(1).scaleb(-rule.places)
    limit = step if rule.rounding != d.ROUND_HALF_EVEN else step / 2
    assert abs(shown - value / rule.divisor) <= limit


def test_csv_has_a_bom_and_one_exact_figure_per_row() -> None:
    doc = build_document(day_report(), PROFILE)
    text = render_csv(doc)
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text[len(BOM):])))
    assert tuple(rows[0]) == HEADER and all(len(r) == len(HEADER) for r in rows)
    totals = [r for r in rows if r[2] == "排放总量（范围一+二） / Total (Scope 1 + 2)"]
    assert [(r[1], r[3], r[4]) for r in totals] == [("site", TOTAL_KG, "kg CO2")]
    factors = [r for r in rows if r[1] == "grid.henan.2023.mee-2025-47"]
    assert [(r[3], r[5]) for r in factors] == [("0.5897", "V-1")]


def test_energy_by_carrier_adds_up_to_the_recorded_total() -> None:
    report = day_report()
    carriers = energy_by_carrier(report)
    assert {k for k, _, _ in carriers} >= {"electricity_kwh", "natural_gas_nm3", "diesel_kg"}
    assert sum(v for _, _, v in carriers) == Decimal(report["energy"]["energy_kgce"])


def test_line_intensities_are_per_the_records_tonnes() -> None:
    doc = build_document(day_report(), PROFILE)
    per_t = doc.figure(ENERGY, "L2", ("单位入料综合能耗", "Energy per t fed in"))
    assert per_t is not None and per_t.value == Decimal("4361.328") / 72
    assert doc.figure(EMISSIONS, "L1", ("产线排放量", "Line total")) is not None


def test_the_page_is_bilingual_and_marks_what_the_engine_does_not_give() -> None:
    report = day_report()
    page = render_html(build_document(report, PROFILE), TZ, "loopmeter carbon recompute")
    for text in ("温室气体排放与能源消耗报告", "1 报告主体", "91410100MA45Q7XK2B", "再生金属",
                 "11 核验信息", "13.912", "status V-1: not confirmed", report["ledger"][
                     "record_hash"], "<svg", "loopmeter carbon recompute"):
        assert text in page, text
    # The engine now gives the verdict and the verification (issue 15): they are printed.
    assert report["verification"]["signature"] in page
    assert report["verification"]["head_hash"] in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_the_engines_quality_and_verification_blocks_are_printed() -> None:
    report = {**day_report(), "quality": ENGINE_QUALITY,
              "verification": {"chain": "ok", "signature": "unsigned", "seq": 1,
                               "head_hash": "sha256:" + "ab" * 32}}
    doc = build_document(report, PROFILE)
    page = render_html(doc, TZ, "x")
    assert missing_hours(doc) == [3]
    for text in ("含估算", "hour 03 interpolated", "interpolated", "spike", "unsigned",
                 "ab" * 32, '<td class="gap">03</td>'):
        assert text in page, text


def test_an_enpi_section_is_printed_when_asked_for() -> None:
    report = {**day_report(), "enpi": {"ratio_kwh_per_t": "3.9", "baseline_period": "2026-09",
                                       "index": "0.9"}}
    page = render_html(build_document(report, PROFILE), TZ, "x")
    assert "ISO 50006" in page and "EnPI index (actual / expected)" in page and "0.9" in page


def test_no_profile_says_what_to_write() -> None:
    page = render_html(build_document(day_report(), None), TZ, "x")
    assert "No site profile for zz" in page and "zz.yaml" in page


def test_a_month_shows_its_days_and_a_day_its_hours() -> None:
    ledger = Ledger(MemoryStore())
    records = close_days(ledger, "zz", 3)
    month, day = parse_period("2026-10", TZ), parse_period(LABEL, TZ)
    days = trend(month, TZ, lambda label: ledger.latest("zz", label))
    assert len(days) == 31
    assert [p.label for p in days if p.seq is not None] == [
        "2026-10-05", "2026-10-06", "2026-10-07"]
    hours = trend(day, TZ, lambda label: ledger.latest("zz", label))
    assert len(hours) == 24 and all(p.coverage == 1 for p in hours)
    report = build_report(records[-1], load_registry())
    page = render_document(report, "html", profile=PROFILE, points=days, zone=TZ).decode()
    assert "CO2 趋势" in page and "按日 / by day" in page
    seqs = [p.seq for p in days if p.seq is not None]
    assert f"{min(seqs)}–{records[-1].seq}" in page  # ledger sequence range covered
