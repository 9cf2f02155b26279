"""The regulator's view across plants: each site's standing, and a period's roll-up of
energy and CO2 by recycling domain and city. Pure.

A plant that has not closed the period, or whose figures the engine judged not fit, is
listed by name and kept out of the sums, never silently dropped: the regulator sees how
complete each total is. A site that reports without a profile cannot be placed in a domain
or city and is listed as unprofiled.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from carbon.document.content import quality_block, site_values
from carbon.document.display import exact
from carbon.document.spreadsheet import BOM
from contract.site_profile import SiteProfile

NOT_AVAILABLE = "not available"
SUMMED = ("energy_kgce", "co2_scope1_kg", "co2_scope2_kg", "co2_total_kg", "electricity_kwh",
          "input_t", "output_t", "avoided_co2_kg")


@dataclass(frozen=True, slots=True)
class SiteStanding:
    site: str
    name: str
    domain: str
    city: str
    latest_closed: str | None
    verdict: str
    chain: str
    signature: str
    coverage: str | None


@dataclass(slots=True)
class RollupRow:
    domain: str
    city: str
    sites: list[str] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(SUMMED,
                                                                              Decimal(0)))


@dataclass(frozen=True, slots=True)
class Excluded:
    site: str
    name: str
    domain: str
    city: str
    reason: str


@dataclass(frozen=True, slots=True)
class Rollup:
    period: str
    rows: tuple[RollupRow, ...]
    excluded: tuple[Excluded, ...]


def verdict_of(report: Mapping[str, Any]) -> str:
    verdict = quality_block(report).get("verdict")
    return verdict if isinstance(verdict, str) else NOT_AVAILABLE


def coverage_of(report: Mapping[str, Any]) -> str | None:
    value = quality_block(report).get("coverage", report.get("data_quality", {}).get("coverage"))
    return None if value is None else str(value)


def standing(site: str, profile: SiteProfile | None, latest: str | None,
             report: Mapping[str, Any] | None, chain: str) -> SiteStanding:
    """One row of the site list; `report` is that of the latest closed period."""
    check = report.get("verification") if report else None
    check = check if isinstance(check, Mapping) else {}
    return SiteStanding(
        site, profile.name_zh if profile else NOT_AVAILABLE,
        profile.domain.value if profile else NOT_AVAILABLE,
        profile.city_en if profile else NOT_AVAILABLE, latest,
        verdict_of(report) if report else NOT_AVAILABLE,
        str(check.get("chain", chain)), str(check.get("signature", NOT_AVAILABLE)),
        coverage_of(report) if report else None)


def rollup(period: str, profiles: Mapping[str, SiteProfile],
           reports: Mapping[str, Mapping[str, Any] | None]) -> Rollup:
    """Sums by (domain, city) over the profiled sites whose period is closed and fit.

    `reports` holds every site known to the ledger or the profiles, with None for a site that
    has not closed `period`.
    """
    rows: dict[tuple[str, str], RollupRow] = {}
    excluded: list[Excluded] = []
    for site in sorted(set(profiles) | set(reports)):
        profile, report = profiles.get(site), reports.get(site)
        who = (site, profile.name_zh if profile else NOT_AVAILABLE,
               profile.domain.value if profile else NOT_AVAILABLE,
               profile.city_en if profile else NOT_AVAILABLE)
        if profile is None:
            excluded.append(Excluded(*who, "no site profile: domain and city unknown"))
        elif report is None:
            excluded.append(Excluded(*who, f"missing: {period} not closed"))
        elif verdict_of(report) == "not_fit":
            reasons = quality_block(report).get("reasons") or []
            excluded.append(Excluded(*who, "not fit: " + "; ".join(map(str, reasons))))
        else:
            row = rows.setdefault((profile.domain.value, profile.city_en),
                                  RollupRow(profile.domain.value, profile.city_en))
            row.sites.append(site)
            values = site_values(report)
            for key in SUMMED:
                row.totals[key] += exact(values.get(key)) or Decimal(0)
    return Rollup(period, tuple(rows[k] for k in sorted(rows)), tuple(excluded))


def rollup_json(result: Rollup) -> dict[str, Any]:
    return {"period": result.period,
            "rows": [{"domain": r.domain, "city": r.city, "sites": r.sites,
                      "totals": {k: str(v) for k, v in r.totals.items()}} for r in result.rows],
            "by_domain": _margin(result.rows, "domain"), "by_city": _margin(result.rows, "city"),
            "excluded": [vars_of(e) for e in result.excluded]}


def _margin(rows: Iterable[RollupRow], key: str) -> dict[str, dict[str, str]]:
    sums: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        target = sums.setdefault(getattr(row, key), dict.fromkeys(SUMMED, Decimal(0)))
        for name, value in row.totals.items():
            target[name] += value
    return {k: {n: str(v) for n, v in t.items()} for k, t in sorted(sums.items())}


def vars_of(item: SiteStanding | Excluded) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


def rollup_csv(result: Rollup) -> str:
    """One row per (domain, city) total, then one per plant left out with the reason."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["period", "domain", "city", "sites", *SUMMED, "excluded_reason"])
    for row in result.rows:
        writer.writerow([result.period, row.domain, row.city, " ".join(row.sites),
                         *(str(row.totals[k]) for k in SUMMED), ""])
    for item in result.excluded:
        writer.writerow([result.period, item.domain, item.city, item.site,
                         *("" for _ in SUMMED), item.reason])
    return BOM + out.getvalue()


def standings_csv(rows: Iterable[SiteStanding]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    names = list(SiteStanding.__slots__)
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if getattr(row, n) is None else getattr(row, n) for n in names])
    return BOM + out.getvalue()
