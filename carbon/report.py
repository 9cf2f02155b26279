"""Period reports for auditors (structure after GB/T 32150), from a ledger record. Pure.

A report never recomputes: it renders what the ledger holds, with the record's hash, so that
the figures an auditor reads are the ones the chain protects.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from carbon.canonical import decimal_text
from carbon.formulas import enpi_index, fit_baseline
from carbon.ledger import StoredRecord, digest_text
from carbon.registry import Registry, Status

Format = Literal["json", "csv", "html"]
BOUNDARY = ("Reporting entity: the site's production system (main, auxiliary and directly "
            "supporting production) as metered by its devices on the Loopmeter contract; "
            "redundant line meters fill gaps only (GB/T 32150-2015).")
SOURCES = {
    "fuel_combustion": "Natural gas and diesel burnt in the boundary (Scope 1).",
    "process": "Reductants (coke) charged to smelters (Scope 1); quantified only where the "
               "registry holds a process factor, otherwise flagged.",
    "purchased_electricity": "Location-based, grid average factor (Scope 2).",
    "purchased_heat": "No heat metric in the v1 catalogue: reported as zero (Scope 2).",
}
UNITS = {"electricity_kwh": "kWh", "natural_gas_nm3": "Nm3", "diesel_kg": "kg", "coke_kg": "kg",
         "input_t": "t", "output_t": "t", "units": "units"}


def build_report(record: StoredRecord, registry: Registry | None = None,
                 verification: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report of one ledger record.

    Factor values come from the record itself (`factor_values`); the live `registry` is read
    only for records closed before records kept them. `verification` is what the ledger
    says of this record (`carbon.ledger.record_verification`); without it, only the
    record's own hash is checked and the signature is reported `unsigned`.
    """
    body = record.data()
    rows = body["results"]["rows"]
    site = next(r for r in rows if r["level"] == "site")
    return {
        "verification": dict(verification) if verification is not None
        else _self_check(record),
        "quality": body.get("quality") or _legacy_quality(site),
        "factor_values": body.get("factor_values") or _legacy_values(body, registry),
        "standard": "GB/T 32150-2015; GHG Protocol Scope 2 Guidance (location-based)",
        "site": body["site"], "period": body["period"], "boundary": BOUNDARY,
        "sources": SOURCES,
        "activity_data": {k: {"value": site["values"][k], "unit": u} for k, u in UNITS.items()},
        "energy": {"energy_kgce": site["values"]["energy_kgce"],
                   "electricity_convention": body["electricity_convention"],
                   "sec_kwh_per_t": site["values"]["sec_kwh_per_t"],
                   # kgce per tonne: the unit of the national energy-consumption limits.
                   "energy_kgce_per_t": site["values"].get("energy_kgce_per_t")},
        "factors": [_factor(v) for v in body.get("factor_values")
                    or _legacy_values(body, registry)],
        "grid_factor": body["grid"],
        "emissions_kg": _emissions(site["values"]),
        "intensity_kg_per_t": site["values"]["intensity_kg_per_t"],
        "avoided_emissions_kg": {"value": site["values"]["avoided_co2_kg"], "note":
                                 "Against primary production; reported separately, never "
                                 "netted against the inventory."},
        "lines": [_line(r) for r in rows if r["level"] == "line"],
        "data_quality": _quality(site, rows),
        "ledger": {"record_hash": record.hash, "seq": record.seq, "kind": body["kind"],
                   "supersedes": body["supersedes"], "inputs_digest": body["inputs_digest"],
                   "config_hash": body["config_hash"], "code_version": body["code_version"],
                   "registry_version": body["registry_version"]},
    }


def enpi_section(site_values: Mapping[str, Any], days: Decimal,
                 baseline_days: Sequence[Mapping[str, Any]], baseline_label: str,
                 basis: str) -> dict[str, Any]:
    """ISO 50006 EnPI: kWh per tonne, and against a regression fitted on baseline days.

    Each baseline day's site figures give one (tonnes, kWh) point; the model's fixed part is
    the load that runs whatever the throughput (idling crushers, holding furnaces).
    """
    tonnes_key = "input_t" if basis == "input" else "output_t"
    points = [(Decimal(d[tonnes_key]), Decimal(d["electricity_kwh"])) for d in baseline_days]
    model = fit_baseline(points)
    actual, tonnes = Decimal(site_values["electricity_kwh"]), Decimal(site_values[tonnes_key])
    section: dict[str, Any] = {"ratio_kwh_per_t": site_values["sec_kwh_per_t"],
                               "denominator": tonnes_key, "baseline_period": baseline_label,
                               "baseline_days": len(points)}
    if model is None:
        return {**section, "regression": "not enough baseline days with varying tonnes"}
    expected = model.fixed * days + model.variable * tonnes
    index = enpi_index(actual, expected)
    return {**section, "fixed_kwh_per_day": decimal_text(model.fixed),
            "variable_kwh_per_t": decimal_text(model.variable),
            "r_squared": decimal_text(model.r_squared) if model.r_squared is not None else None,
            "expected_kwh": decimal_text(expected),
            "index": decimal_text(index) if index is not None else None}


def _factor(value: Mapping[str, Any]) -> dict[str, Any]:
    status = value.get("status", "")
    year = f", data year {value['data_year']}" if value.get("data_year") else ""
    return {"id": value["id"], "value": value.get("value"), "unit": value.get("unit"),
            "status": status, "citation": f"{value.get('publisher', '')}, "
            f"{value.get('document', '')}{year} [{status}]",
            "url": value.get("url") or "not recorded", "use_class": value.get("use_class"),
            "data_year": value.get("data_year"),
            "warning": "" if status == Status.VERIFIED.value else
            f"status {status}: not confirmed in a primary source"}


def _legacy_values(body: Mapping[str, Any], registry: Registry | None) -> list[dict[str, Any]]:
    """Factor values of a record that kept only ids, from the registry where it still has
    them; a factor it no longer has is reported as such, never guessed."""
    values = []
    for factor_id in body.get("factor_ids", []):
        try:
            f = registry[factor_id] if registry is not None else None
        except KeyError:
            f = None
        if f is None:
            values.append({"id": factor_id, "value": None, "unit": None, "data_year": None,
                           "document": "not in the registry", "status": "missing"})
            continue
        values.append({"id": f.id, "value": decimal_text(f.value), "unit": f.unit,
                       "data_year": f.data_year, "document": f.document,
                       "status": f.status.value, "publisher": f.publisher,
                       "use_class": f.use_class, "url": f.url})
    return values


def _legacy_quality(site: Mapping[str, Any]) -> dict[str, Any]:
    return {"verdict": "not_fit", "reasons": ["closed before records kept a quality verdict"],
            "coverage": site["values"].get("coverage", "0"), "substitutions": [],
            "missing_hours": [], "anomalies": []}


def _self_check(record: StoredRecord) -> dict[str, Any]:
    return {"chain": "ok" if digest_text(record.body) == record.hash else "broken",
            "signature": "unsigned", "seq": record.seq, "head_hash": record.hash}


def _emissions(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"scope1": {"fuel_combustion": values["co2_combustion_kg"],
                       "process": values["co2_process_kg"], "total": values["co2_scope1_kg"]},
            "scope2_location_based": {"electricity": values["co2_electricity_kg"],
                                      "heat": values["co2_heat_kg"],
                                      "total": values["co2_scope2_kg"]},
            "total": values["co2_total_kg"]}


def _line(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"line": row["line"], "domain": row["domain"], "values": row["values"],
            "flags": row["flags"]}


def _quality(site: Mapping[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    events = [{"device": r["device"], "ts": e[0], "metric": e[1], "event": e[2], "detail": e[3]}
              for r in rows if r["level"] == "device" for e in r["events"]]
    return {"coverage": site["values"]["coverage"],
            "substituted_share": site["values"]["substituted_share"],
            "per_quantity": site["quality"], "flags": site["flags"], "meter_events": events}


def render(report: Mapping[str, Any], fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    rows = list(_flatten("", report))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["field", "value"])
        writer.writerows(rows)
        return out.getvalue()
    cells = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                      for k, v in rows)
    title = html.escape(f"Energy and carbon report {report['site']} {report['period']['label']}")
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
            f"<body><h1>{title}</h1>\n<table>\n{cells}\n</table></body></html>\n")


def _flatten(prefix: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        for key in sorted(value):
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), value[key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(f"{prefix}[{index}]", item)
    else:
        yield prefix, "" if value is None else str(value)
