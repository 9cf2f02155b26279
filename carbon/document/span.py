"""Reports over several closed periods: a run of days (`2026-10-03..2026-10-05`), of months
(`2026-01..2026-03`) or a calendar year (`2026`, its twelve months). Pure.

The engine closes hours, days and months; a longer report is the sum of the closed records
it lists, each with its hash, and no figure is recomputed from raw data. Ratios (kWh/t,
kg CO2/t) are taken again from the summed numerators and denominators, never averaged. A
part that is not closed counts as uncovered time, and makes the span not fit for reporting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from carbon.document.content import quality_block, site_values, tonnes_basis
from carbon.document.display import exact
from carbon.periods import Granularity, Period, parse_period, periods_between

_RANGE = re.compile(r"^(\d{4}-\d{2}(?:-\d{2})?)\.\.(\d{4}-\d{2}(?:-\d{2})?)$")
_YEAR = re.compile(r"^\d{4}$")
MAX_PARTS = 400  # a year of days and some: enough for any filed report, bounded per request
RATIOS = ("intensity_kg_per_t", "sec_kwh_per_t")
AVERAGED = ("coverage", "substituted_share")
SEVERITY = {"complete": 0, "estimated": 1, "not_fit": 2}
UNIT = {Granularity.DAY: "days", Granularity.MONTH: "months"}


@dataclass(frozen=True, slots=True)
class Span:
    label: str
    start_ms: int
    end_ms: int
    step: Granularity
    parts: tuple[Period, ...]


def is_span(label: str) -> bool:
    return bool(_RANGE.match(label) or _YEAR.match(label))


def parse_span(label: str, zone: ZoneInfo) -> Span:
    """The days or months a span label names; ValueError saying what is wrong."""
    if _YEAR.match(label):
        first, last = parse_period(f"{label}-01", zone), parse_period(f"{label}-12", zone)
    else:
        match = _RANGE.match(label)
        if match is None:
            raise ValueError(f"{label!r} is not a span: use 2026, 2026-01..2026-03 or "
                             "2026-10-03..2026-10-05")
        first, last = parse_period(match[1], zone), parse_period(match[2], zone)
        if first.granularity is not last.granularity:
            raise ValueError(f"{label!r}: both ends must be days or both months")
        if last.start_ms < first.start_ms:
            raise ValueError(f"{label!r}: the span ends before it starts")
    parts = tuple(periods_between(first.start_ms, last.end_ms, first.granularity, zone))
    if len(parts) > MAX_PARTS:
        raise ValueError(f"{label!r} has {len(parts)} parts; at most {MAX_PARTS}")
    return Span(label, first.start_ms, last.end_ms, first.granularity, parts)


def combine(span: Span, parts: Sequence[tuple[Period, Mapping[str, Any] | None]]
            ) -> dict[str, Any]:
    """One report dict (build_report's shape) for the span, from its parts' reports."""
    closed = [(p, r) for p, r in parts if r is not None]
    if not closed:
        raise LookupError(f"no part of {span.label} is closed")
    first = closed[0][1]
    weights = {p.label: Decimal(p.end_ms - p.start_ms) for p, _ in parts}
    total_ms = sum(weights.values(), Decimal(0))
    figures = [(weights[p.label], site_values(r)) for p, r in closed]
    summed = _sum_values(figures, total_ms)
    return {
        "standard": first.get("standard"), "site": first["site"],
        "period": {"label": span.label, "start_ms": span.start_ms, "end_ms": span.end_ms,
                   "granularity": UNIT[span.step]},
        "derivation": (f"Sum of the {len(closed)} closed records listed under ledger.records "
                       f"({len(parts) - len(closed)} of {len(parts)} parts not closed); no "
                       "figure recomputed from raw data; ratios from the summed figures."),
        "boundary": first.get("boundary"), "sources": first.get("sources"),
        "activity_data": {k: {"value": _text(summed.get(k)), "unit": v["unit"]}
                          for k, v in first["activity_data"].items()},
        "energy": {"energy_kgce": _text(summed.get("energy_kgce")),
                   "electricity_convention": _joined(
                       r["energy"].get("electricity_convention") for _, r in closed),
                   "sec_kwh_per_t": _text(summed.get("sec_kwh_per_t"))},
        "emissions_kg": {
            "scope1": {"fuel_combustion": _text(summed.get("co2_combustion_kg")),
                       "process": _text(summed.get("co2_process_kg")),
                       "total": _text(summed.get("co2_scope1_kg"))},
            "scope2_location_based": {"electricity": _text(summed.get("co2_electricity_kg")),
                                      "heat": _text(summed.get("co2_heat_kg")),
                                      "total": _text(summed.get("co2_scope2_kg"))},
            "total": _text(summed.get("co2_total_kg"))},
        "intensity_kg_per_t": _text(summed.get("intensity_kg_per_t")),
        "avoided_emissions_kg": {"value": _text(summed.get("avoided_co2_kg")),
                                 "note": first["avoided_emissions_kg"].get("note", "")},
        "lines": _lines(closed, weights, total_ms),
        "factor_values": _union(r.get("factor_values", []) for _, r in closed),
        "factors": _union(r.get("factors", []) for _, r in closed),
        "grid_factor": {"factor_id": _joined(r["grid_factor"].get("factor_id")
                                             for _, r in closed),
                        "tried": sorted({t for _, r in closed
                                         for t in r["grid_factor"].get("tried", [])})},
        "data_quality": {
            "coverage": _text(summed.get("coverage")),
            "substituted_share": _text(summed.get("substituted_share")),
            "flags": sorted({f for _, r in closed for f in r["data_quality"].get("flags", [])}),
            "meter_events": [e for _, r in closed
                             for e in r["data_quality"].get("meter_events", [])]},
        "quality": _quality(parts, summed.get("coverage")),
        "verification": _verification(r for _, r in closed),
        "ledger": {"kind": f"sum of closed {UNIT[span.step]}",
                   "records": [{"period": p.label, **_record(r)} for p, r in closed],
                   "code_version": _joined(r["ledger"].get("code_version") for _, r in closed),
                   "registry_version": _joined(str(r["ledger"].get("registry_version"))
                                               for _, r in closed)},
    }


def _sum_values(items: Sequence[tuple[Decimal, Mapping[str, Any]]],
                total_ms: Decimal) -> dict[str, Decimal | None]:
    """Additive figures summed; shares weighted by time over the whole span (a part not
    closed weighs in as uncovered); ratios from the sums."""
    keys = {k for _, values in items for k in values} - set(RATIOS)
    summed: dict[str, Decimal | None] = {}
    for key in keys:
        numbers = [(w, exact(v.get(key))) for w, v in items]
        if key in AVERAGED:
            summed[key] = (sum((w * n for w, n in numbers if n is not None), Decimal(0))
                           / total_ms if total_ms else None)
        else:
            summed[key] = sum((n for _, n in numbers if n is not None), Decimal(0))
    basis = tonnes_basis(items[0][1])
    tonnes = summed.get(basis)
    for ratio, numerator in (("intensity_kg_per_t", "co2_total_kg"),
                             ("sec_kwh_per_t", "electricity_kwh")):
        top = summed.get(numerator)
        summed[ratio] = top / tonnes if top is not None and tonnes else None
    return summed


def _lines(closed: Sequence[tuple[Period, Mapping[str, Any]]], weights: Mapping[str, Decimal],
           total_ms: Decimal) -> list[dict[str, Any]]:
    found: dict[str, list[tuple[Decimal, Mapping[str, Any]]]] = {}
    meta: dict[str, tuple[str, set[str]]] = {}
    for period, report in closed:
        for line in report.get("lines", []):
            found.setdefault(line["line"], []).append((weights[period.label], line["values"]))
            _, flags = meta.setdefault(line["line"], (line["domain"], set()))
            flags.update(line.get("flags", []))
    return [{"line": name, "domain": meta[name][0], "flags": sorted(meta[name][1]),
             "values": {k: _text(v) for k, v in _sum_values(items, total_ms).items()}}
            for name, items in sorted(found.items())]


def _quality(parts: Sequence[tuple[Period, Mapping[str, Any] | None]],
             coverage: Decimal | None) -> dict[str, Any]:
    verdict, reasons = "complete", []
    substitutions: list[Any] = []
    anomalies: dict[tuple[str, str], int] = {}
    for period, report in parts:
        if report is None:
            verdict = "not_fit"
            reasons.append(f"{period.label}: not closed")
            continue
        block = quality_block(report)
        own = str(block.get("verdict", "not_fit"))
        verdict = max(verdict, own, key=lambda v: SEVERITY.get(v, 2))
        reasons += [f"{period.label}: {r}" for r in block.get("reasons", [])]
        substitutions += [{**s, "device": f"{period.label} {s.get('device')}"}
                          for s in block.get("substitutions", [])]
        for item in block.get("anomalies", []):
            key = (str(item.get("device")), str(item.get("kind")))
            anomalies[key] = anomalies.get(key, 0) + int(item.get("count", 0))
    return {"verdict": verdict, "reasons": reasons, "coverage": _text(coverage),
            "substitutions": substitutions,
            "anomalies": [{"device": d, "kind": k, "count": c}
                          for (d, k), c in sorted(anomalies.items())]}


def _verification(reports: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    checks = [r.get("verification") or {} for r in reports]
    signatures = {str(c.get("signature", "unsigned")) for c in checks}
    signature = ("invalid" if "invalid" in signatures else "valid" if signatures == {"valid"}
                 else "unsigned" if signatures == {"unsigned"} else "partly signed")
    return {"chain": "broken" if any(c.get("chain") != "ok" for c in checks) else "ok",
            "signature": signature, "seq": max((c.get("seq") or 0) for c in checks),
            "head_hash": next((c.get("head_hash") for c in checks if c.get("head_hash")), None)}


def _record(report: Mapping[str, Any]) -> dict[str, Any]:
    ledger = report.get("ledger", {})
    return {"seq": ledger.get("seq"), "record_hash": ledger.get("record_hash"),
            "kind": ledger.get("kind")}


def _union(lists: Iterable[Sequence[Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    seen: dict[str, Mapping[str, Any]] = {}
    for items in lists:
        for item in items:
            seen.setdefault(str(item.get("id")), item)
    return [seen[k] for k in sorted(seen)]


def _joined(values: Iterable[object]) -> str:
    return ", ".join(sorted({str(v) for v in values if v is not None}))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")
