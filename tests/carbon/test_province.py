"""The regulator's roll-up: sums by domain and city, and every plant left out named."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from carbon.closing import Accounting, code_version
from carbon.document.province import SUMMED, rollup, rollup_csv, rollup_json, standing
from carbon.document.spreadsheet import BOM
from carbon.engine import Engine
from carbon.influx_io import UNKNOWN_REGION
from carbon.ledger import Ledger, MemoryStore
from carbon.registry import load_registry
from carbon.report import build_report
from carbon.service import ProfileRegions
from carbon.settings import CarbonSettings
from simulators.province import province, write_profiles
from tests.carbon.plant import DAY, HORIZON, TZ, FakeSink, FakeSource, Plant
from tests.gateway.carbon_day import LABEL, TOTAL_KG, close_day
from tests.support.clock import FakeClock


def one_report() -> dict[str, Any]:
    return build_report(close_day(Ledger(MemoryStore()), "zz"), load_registry())


def test_the_simulated_province_spans_domains_and_cities() -> None:
    sites = province()
    assert len(sites) >= 20 and len({p.site for p in sites}) == len(sites)
    assert len({p.domain for p in sites}) >= 4 and len({p.city for p in sites}) >= 3
    assert len({p.uscc for p in sites}) == len(sites)  # each validated by SiteProfile
    assert province() == sites  # deterministic for a seed


def test_rollup_sums_the_fit_plants_and_lists_the_others() -> None:
    profiles = {p.site: p for p in province()}
    report = one_report()
    unfit = {**report, "quality": {"verdict": "not_fit", "reasons": ["coverage 0.41"]}}
    names = sorted(profiles)
    reports: dict[str, dict[str, Any] | None] = dict.fromkeys(names[:18], report)
    reports |= {names[18]: unfit, names[19]: None, "stray": report}  # 20+ unreported: absent
    result = rollup(LABEL, profiles, reports)
    assert sum(len(r.sites) for r in result.rows) == 18
    assert sum(r.totals["co2_total_kg"] for r in result.rows) == 18 * Decimal(TOTAL_KG)
    reasons = {e.site: e.reason for e in result.excluded}
    assert reasons[names[18]] == "not fit: coverage 0.41"
    assert reasons[names[19]].startswith("missing")
    assert reasons["stray"].startswith("no site profile")
    assert all(reasons[s].startswith("missing") for s in names[20:])
    assert len(result.excluded) == len(profiles) - 18 + 1
    for row in result.rows:
        assert {profiles[s].domain.value for s in row.sites} == {row.domain}
        assert {profiles[s].city_en for s in row.sites} == {row.city}
    summary = rollup_json(result)
    by_domain = Counter(profiles[s].domain.value for s in names[:18])
    for domain, count in by_domain.items():
        assert Decimal(summary["by_domain"][domain]["co2_total_kg"]) == count * Decimal(TOTAL_KG)
    text = rollup_csv(result)
    assert text.startswith(BOM)
    lines = text[len(BOM):].splitlines()
    assert lines[0].split(",")[4:4 + len(SUMMED)] == list(SUMMED)
    assert len(lines) == 1 + len(result.rows) + len(result.excluded)


def test_a_site_standing_shows_what_the_engine_gave() -> None:
    profile = province()[0]
    report = {**one_report(), "quality": {"verdict": "complete", "coverage": "1"},
              "verification": {"chain": "ok", "signature": "valid"}}
    row = standing(profile.site, profile, LABEL, report, "ok")
    assert (row.domain, row.city, row.verdict, row.signature, row.coverage) == (
        profile.domain.value, profile.city_en, "complete", "valid", "1")
    bare = standing("x", None, None, None, "broken")
    assert (bare.name, bare.verdict, bare.chain, bare.latest_closed) == (
        "not available", "not available", "broken", None)



def test_points_carry_the_region_tag_and_the_verdict_fields() -> None:
    settings = CarbonSettings()
    accounting = Accounting(settings.params(), "henan", "equivalent", "input",
                            settings.config_hash(), code_version())
    sink = FakeSink()
    engine = Engine(FakeSource(Plant.day("zz")), sink, Ledger(MemoryStore()), load_registry(),
                    accounting, TZ, HORIZON, FakeClock(DAY.end_ms + 3_600_000),
                    regions=lambda site: {"zz": "Luoyang"}[site])
    verdict = engine.close("zz", DAY).record.data()["quality"]["verdict"]
    assert {dict(p.tags)["region"] for p in sink.points} == {"Luoyang"}
    assert {p.fields["verdict"] for p in sink.points} == {verdict}
    site = next(p for p in sink.points if dict(p.tags)["level"] == "site")
    assert {k: v for k, v in site.fields.items() if k.startswith("verdict_")} == {
        f"verdict_{v}": int(v == verdict) for v in ("complete", "estimated", "not_fit")}


def test_regions_come_from_the_profiles_and_a_bad_file_does_not_stop_a_close(
        tmp_path: Path) -> None:
    regions = ProfileRegions(tmp_path)
    assert regions("zz") == UNKNOWN_REGION
    write_profiles([province(1)[0].model_copy(update={"site": "zz"})], tmp_path)
    assert regions("zz") == province(1)[0].city_en
    (tmp_path / "broken.yaml").write_text("site: [", encoding="utf-8")
    assert regions("zz") == UNKNOWN_REGION
