"""What closing a period computes and records: figures, digests and ledger content. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, localcontext
from importlib import metadata
from typing import Any
from zoneinfo import ZoneInfo

from carbon.activity import (
    Activity,
    Device,
    Params,
    SiteInputs,
    combine,
    device_activities,
    limits_in_force,
)
from carbon.canonical import canonical, decimal_text, digest, digest_plain, plain
from carbon.figures import Basis, Convention, FactorSet, Row, figure_rows, missing_factors
from carbon.periods import Period
from carbon.quality import assess
from carbon.registry import Factor, Registry

# Every division in the engine runs in this context, so results never depend on a caller's.
DECIMAL_CONTEXT = Context(prec=28)


@dataclass(frozen=True, slots=True)
class Accounting:
    """The conventions a result depends on, besides its inputs and factors."""

    params: Params
    region: str
    convention: Convention
    basis: Basis
    config_hash: str
    code_version: str


@dataclass(frozen=True, slots=True)
class Computation:
    period: Period
    rows: tuple[Row, ...]
    factors: FactorSet
    content: Mapping[str, Any]

    @property
    def results_text(self) -> str:
        return canonical(self.content["results"])


def code_version() -> str:
    try:
        return f"loopmeter {metadata.version('loopmeter')}"
    except metadata.PackageNotFoundError:
        return "loopmeter unknown"


def inputs_payload(inputs: SiteInputs) -> dict[str, Any]:
    """The inputs as plain data (Decimals already as canonical text, so `plain` leaves it
    as it is), for the digest that pins what a result was computed from."""
    return {
        "site": inputs.site, "window": [inputs.start_ms, inputs.end_ms],
        "registers": [{"line": r.device.line, "device": r.device.device,
                       "type": r.device.type.value, "metric": r.metric,
                       "readings": [[x.ts, decimal_text(x.value)] for x in r.readings],
                       "events": [plain([e.ts, e.kind.value, e.old_final, e.new_initial])
                                  for e in r.events]} for r in inputs.registers],
        "power": [{"line": d.line, "device": d.device,
                   "readings": [[x.ts, decimal_text(x.value)] for x in p]}
                  for d, p in sorted(inputs.power.items())],
    } | _devices_payload(inputs)


def _devices_payload(inputs: SiteInputs) -> dict[str, Any]:
    """Births, deaths and states, when there are any: they decide rollovers and gaps too.
    Absent otherwise, so that inputs without them keep the digest they had before."""
    if not inputs.devices:
        return {}
    return {"devices": [
        {"line": line, "device": device,
         "lifecycle": [plain([e.ts, e.born, e.session, [[g, m] for g, m in e.maxima]])
                       for e in state.lifecycle],
         "states": [[x.ts, x.value] for x in state.states]}
        for (line, device), state in sorted(inputs.devices.items())]}


LimitsUsed = dict[str, Any]
Memo = dict[tuple[int, int], tuple[dict[Device, Activity], str, LimitsUsed]]
"""Each chunk's activities, inputs digest and maximum rates in force by its bounds: the
quarters of a day are computed once and summed into its hours and the day itself."""


def compute(period: Period, chunks: Iterable[SiteInputs], registry: Registry,
            accounting: Accounting, tz: ZoneInfo, memo: Memo | None = None) -> Computation:
    """Figures for `period` from consecutive input chunks (its quarters) that tile it."""
    digests: list[str] = []
    limits: dict[str, list[Any]] = {}

    def activities() -> Iterator[dict[Device, Activity]]:
        for chunk in chunks:
            found, chunk_digest, chunk_limits = _chunk(chunk, accounting.params, memo)
            digests.append(chunk_digest)
            for key, used in chunk_limits.items():
                known = limits.setdefault(key, [])
                known += [entry for entry in used if entry not in known]
            yield found

    with localcontext(DECIMAL_CONTEXT):
        devices = combine(activities())
        day = datetime.fromtimestamp(period.start_ms / 1000, tz).date()
        factors = FactorSet.resolve(registry, day, accounting.region, accounting.convention)
        rows = tuple(figure_rows(devices, factors, accounting.basis))
        # Avoided emissions are reported apart from the inventory: a missing benchmark
        # factor stays a row flag and does not judge the inventory.
        missing = sorted({flag for d, a in devices.items()
                          for flag in missing_factors(a, d.domain, factors)
                          if not flag.startswith("no_factor:avoided")})
        stale = ([f"stale_factor:{factors.grid.stale_year}"]
                 if factors.grid and factors.grid.stale_year else [])
        quality = assess(period, devices, missing, stale, accounting.params, tz)
    content = {
        "inputs_digest": digests[0] if len(digests) == 1 else digest(digests),
        "factor_ids": [f.id for f in factors.used()],
        "factor_values": [factor_value(f) for f in factors.used()],
        "method": method_payload(accounting, limits),
        "quality": quality,
        "registry_version": registry.version,
        "code_version": accounting.code_version,
        "config_hash": accounting.config_hash,
        "electricity_convention": accounting.convention,
        "grid": ({"factor_id": factors.grid.factor.id, "tried": list(factors.grid.tried),
                  "stale_data_year": factors.grid.stale_year}
                 if factors.grid else None),
        "results": {"rows": [row_payload(r) for r in rows]},
    }
    return Computation(period, rows, factors, plain(content))


def factor_value(factor: Factor) -> dict[str, Any]:
    """What a record keeps of each factor it used: reports never read the live registry."""
    return {"id": factor.id, "value": factor.value, "unit": factor.unit,
            "data_year": factor.data_year, "document": factor.document,
            "status": factor.status.value, "publisher": factor.publisher,
            "use_class": factor.use_class, "url": factor.url}


def method_payload(accounting: Accounting,
                   limits: LimitsUsed | None = None) -> dict[str, Any]:
    """The method parameters a record was computed with (compared on recalculation), with
    the maximum rate each register was judged by and its source (catalogue or birth)."""
    payload = {"params": accounting.params, "region": accounting.region,
               "electricity_convention": accounting.convention, "basis": accounting.basis}
    if limits is not None:
        payload["limits"] = {key: sorted(used, key=canonical)
                             for key, used in sorted(limits.items())}
    return payload


def _chunk(chunk: SiteInputs, params: Params,
           memo: Memo | None) -> tuple[dict[Device, Activity], str, LimitsUsed]:
    key = (chunk.start_ms, chunk.end_ms)
    if memo is not None and key in memo:
        return memo[key]
    with localcontext(DECIMAL_CONTEXT):
        found = (device_activities(chunk, key, params), digest_plain(inputs_payload(chunk)),
                 limits_in_force(chunk, key))
    if memo is not None:
        memo[key] = found
    return found


def row_payload(row: Row) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "level": row.level, "line": row.line, "device": row.device, "domain": row.domain,
        "values": dict(row.values), "flags": sorted(row.activity.flags),
        "quality": {q: {"amount": m.amount, "covered_ms": m.covered_ms,
                        "duration_ms": m.duration_ms, "substituted": m.substituted}
                    for q, m in sorted(row.activity.quantities.items())},
    }
    if row.level == "device":
        payload["events"] = [[e.ts, e.metric, e.flag, e.detail] for e in row.activity.events]
    return payload


def period_payload(period: Period) -> dict[str, Any]:
    return {"label": period.label, "granularity": period.granularity.value,
            "start_ms": period.start_ms, "end_ms": period.end_ms}


def differences(stored: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What differs between a ledger record and a fresh computation of its period: inputs,
    each factor value, each method parameter, and the results (a code change), in that order.
    Empty when the period would be recorded again unchanged."""
    changes: list[dict[str, Any]] = []
    if stored.get("inputs_digest") != fresh["inputs_digest"]:
        changes.append({"what": "inputs", "old": stored.get("inputs_digest"),
                        "new": fresh["inputs_digest"]})
    changes += _factor_changes(stored, fresh)
    changes += _method_changes(stored, fresh)
    if not changes and canonical(stored.get("results")) != canonical(fresh["results"]):
        changes.append({"what": "results", "old": stored.get("code_version"),
                        "new": fresh["code_version"]})
    return changes


def _factor_changes(stored: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[dict[str, Any]]:
    new = {v["id"]: v for v in fresh["factor_values"]}
    if "factor_values" not in stored:  # a record that kept only ids: compare those
        old_ids = set(stored.get("factor_ids", []))
        return [{"what": "factor", "id": i, "old": "used" if i in old_ids else None,
                 "new": new[i]["value"] if i in new else None}
                for i in sorted(old_ids ^ set(new))]
    old = {v["id"]: v for v in stored["factor_values"]}
    return [{"what": "factor", "id": i, "old": old[i]["value"] if i in old else None,
             "new": new[i]["value"] if i in new else None}
            for i in sorted(set(old) | set(new)) if old.get(i) != new.get(i)]


def _method_changes(stored: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[dict[str, Any]]:
    if "method" not in stored:
        return ([{"what": "config", "id": "config_hash", "old": stored.get("config_hash"),
                  "new": fresh["config_hash"]}]
                if stored.get("config_hash") != fresh["config_hash"] else [])
    old, new = _flat(stored["method"]), _flat(fresh["method"])
    changes = [{"what": "config", "id": k, "old": old.get(k), "new": new.get(k)}
               for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if not changes and stored.get("config_hash") != fresh["config_hash"]:
        changes.append({"what": "config", "id": "config_hash", "old": stored.get("config_hash"),
                        "new": fresh["config_hash"]})
    return changes


def _flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        flat.update(_flat(item, f"{name}.") if isinstance(item, Mapping) else {name: item})
    return flat


def describe(changes: Sequence[Mapping[str, Any]]) -> str:
    """One line naming every difference, for the recalculation record and the CLI."""
    def one(change: Mapping[str, Any]) -> str:
        what = change["what"]
        if what == "inputs":
            return "inputs changed (late or corrected data)"
        if what == "results":
            return f"results differ with the same inputs, factors and method (code " \
                   f"{change['old']} -> {change['new']})"
        return f"{what} {change['id']}: {change['old']} -> {change['new']}"
    return "; ".join(one(c) for c in changes)

