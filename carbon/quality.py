"""A closed period's quality verdict: fit for a regulator, estimated within limits, or not. Pure.

`complete`: every quantity measured all the time, nothing substituted, no counter anomaly,
every factor of the period's own data year. `estimated`: substitutions, anomalies or a stale
factor, all within the limits of `Params` (minimum coverage, maximum substituted share).
`not_fit`: outside those limits, or a quantity that no factor converts (a missing factor is
never a silent zero). Each verdict lists its reasons; the record also lists every
substitution with its method and amount, the counter anomalies per device and, for a day,
the local hours it lacks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from carbon.activity import Activity, Device, Params, total
from carbon.counters import ANOMALIES, ZERO
from carbon.periods import Granularity, Period

Verdict = Literal["complete", "estimated", "not_fit"]
UNITS: Mapping[str, str] = {"electricity_kwh": "kWh", "natural_gas_nm3": "Nm3",
                            "diesel_kg": "kg", "coke_kg": "kg", "input_t": "t",
                            "output_t": "t", "residue_t": "t", "units": "units"}
_HOUR_MS = 3_600_000
_ANOMALY_KINDS = frozenset(f.value for f in ANOMALIES)


def assess(period: Period, devices: Mapping[Device, Activity], missing: Sequence[str],
           stale: Sequence[str], params: Params, tz: ZoneInfo) -> dict[str, Any]:
    """The `quality` section of a record (see docs/carbon.md for its fields)."""
    site = total(devices.values())
    coverage = _coverage(site)
    share = _substituted_share(site)
    substitutions = _substitutions(devices)
    anomalies = _anomalies(devices)
    not_fit = [*missing]
    if coverage < params.min_coverage:
        not_fit.append(f"coverage {_pct(coverage)} below the minimum "
                       f"{_pct(params.min_coverage)}")
    if share > params.max_substituted_share:
        not_fit.append(f"substituted share {_pct(share)} above the maximum "
                       f"{_pct(params.max_substituted_share)}")
    estimated = [*stale]
    if coverage < 1:
        estimated.append(f"coverage {_pct(coverage)}")
    if substitutions:
        estimated.append(f"{len(substitutions)} substitutions, {_pct(share)} of the amounts")
    estimated += [f"{a['kind']} x{a['count']} on {a['device']}" for a in anomalies]
    verdict: Verdict = "not_fit" if not_fit else "estimated" if estimated else "complete"
    return {"verdict": verdict, "reasons": [*not_fit, *estimated], "coverage": coverage,
            "substitutions": substitutions,
            "missing_hours": (_missing_hours(period, site, tz)
                              if period.granularity is Granularity.DAY else []),
            "anomalies": anomalies}


def _coverage(activity: Activity) -> Decimal:
    measured = [m for m in activity.quantities.values() if m.duration_ms > 0]
    return min((Decimal(m.covered_ms) / m.duration_ms for m in measured), default=ZERO)


def _substituted_share(activity: Activity) -> Decimal:
    shares = [m.substituted / m.amount for m in activity.quantities.values() if m.amount > 0]
    return max(shares, default=ZERO)


def _substitutions(devices: Mapping[Device, Activity]) -> list[dict[str, Any]]:
    return [{"device": f"{d.line}/{d.device}", "method": method, "amount": amount,
             "unit": UNITS.get(quantity, quantity), "quantity": quantity}
            for d, activity in devices.items()
            for quantity, measured in sorted(activity.quantities.items())
            for method, amount in sorted(measured.methods.items())]


def _anomalies(devices: Mapping[Device, Activity]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for d, activity in devices.items():
        counts = Counter(e.flag for e in activity.events if e.flag in _ANOMALY_KINDS)
        found += [{"device": f"{d.line}/{d.device}", "kind": kind, "count": count}
                  for kind, count in sorted(counts.items())]
    return found


def _missing_hours(period: Period, activity: Activity, tz: ZoneInfo) -> list[int]:
    """Local hours of the day with time that some quantity did not measure directly."""
    hours: set[int] = set()
    for measured in activity.quantities.values():
        for start, end in measured.lacking:
            lo, hi = max(start, period.start_ms), min(end, period.end_ms)
            moment = lo
            while moment < hi:
                hours.add(datetime.fromtimestamp(moment / 1000, tz).hour)
                moment = (moment // _HOUR_MS + 1) * _HOUR_MS
    return sorted(hours)


def _pct(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'))} %"
