"""Reported figures per device, line and site from activity data and factors. Pure.

Additive figures (energy, kgce, CO2 by source) are computed per device and summed upwards;
ratios (kWh/t, kg CO2/t) and data quality are derived at each level from the sums.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from carbon.activity import Activity, Device, total
from carbon.formulas import ZERO, convert, per_tonne
from carbon.registry import Factor, FactorKind, GridChoice, Registry

Convention = Literal["equivalent", "equal_value"]
Basis = Literal["input", "output"]
Level = Literal["device", "line", "site"]

# Registry subject of each activity quantity that burns, converts or is bought.
CARRIERS: Mapping[str, str] = {"electricity_kwh": "electricity", "natural_gas_nm3": "natural_gas",
                               "diesel_kg": "diesel", "coke_kg": "coke"}
AMOUNTS = ("electricity_kwh", "natural_gas_nm3", "diesel_kg", "coke_kg", "input_t", "output_t",
           "units")
SOURCES = ("energy_kgce", "co2_combustion_kg", "co2_process_kg", "co2_electricity_kg",
           "co2_heat_kg", "avoided_co2_kg")
KG_PER_T = Decimal(1000)


@dataclass(frozen=True, slots=True)
class FactorSet:
    """The factors that apply to one period, chosen once from the registry."""

    convention: Convention
    kgce: Mapping[str, Factor]
    combustion: Mapping[str, Factor]
    process: Mapping[str, Factor]
    grid: GridChoice | None
    avoided: Mapping[str, Factor]

    @classmethod
    def resolve(cls, registry: Registry, day: date, region: str,
                convention: Convention) -> FactorSet:
        kgce = {q: registry.kgce(s, convention if s == "electricity" else "")
                for q, s in CARRIERS.items()}
        combustion = {q: registry.emission(FactorKind.COMBUSTION_CO2, s, day)
                      for q, s in CARRIERS.items()}
        process = {"coke_kg": registry.emission(FactorKind.PROCESS_CO2, "coke", day)}
        avoided = {d: registry.emission(FactorKind.AVOIDED_CO2, d, day)
                   for d in ("construction_waste", "recycled_metals", "waste_batteries",
                             "waste_appliances")}
        return cls(convention, _present(kgce), _present(combustion), _present(process),
                   registry.grid(region, day), _present(avoided))

    def used(self) -> list[Factor]:
        grid = [self.grid.factor] if self.grid else []
        rows = [*self.kgce.values(), *self.combustion.values(), *self.process.values(),
                *grid, *self.avoided.values()]
        return sorted({f.id: f for f in rows}.values(), key=lambda f: f.id)


def _present(factors: Mapping[str, Factor | None]) -> dict[str, Factor]:
    return {k: f for k, f in factors.items() if f is not None}


@dataclass(frozen=True, slots=True)
class Row:
    """One entity's figures for a period, as written and as entered in the ledger."""

    level: Level
    line: str | None
    device: str | None
    domain: str
    values: Mapping[str, Decimal | None]
    activity: Activity


def device_figures(activity: Activity, domain: str | None,
                   factors: FactorSet) -> dict[str, Decimal]:
    """The additive figures of one device."""
    amounts = {q: activity.amount(q) for q in AMOUNTS}
    kgce = sum((convert(amounts[q], f.value) for q, f in factors.kgce.items()), ZERO)
    combustion = sum((convert(amounts[q], f.value) for q, f in factors.combustion.items()), ZERO)
    process = sum((convert(amounts[q], f.value) for q, f in factors.process.items()), ZERO)
    grid = factors.grid.factor.value if factors.grid else ZERO
    avoided_factor = factors.avoided.get(domain or "")
    avoided = (convert(amounts["output_t"] * KG_PER_T, avoided_factor.value)
               if avoided_factor else ZERO)
    return {**amounts, "energy_kgce": kgce, "co2_combustion_kg": combustion,
            "co2_process_kg": process,
            "co2_electricity_kg": convert(amounts["electricity_kwh"], grid),
            "co2_heat_kg": ZERO, "avoided_co2_kg": avoided}


def missing_factors(activity: Activity, domain: str | None, factors: FactorSet) -> list[str]:
    """Flags for activity that no registry factor converts (shown in reports)."""
    flags = [f"no_factor:{kind}:{q}" for q in CARRIERS if activity.amount(q) > 0
             for kind, table in (("kgce", factors.kgce), ("co2", _co2_table(q, factors)))
             if q not in table]
    if domain and activity.amount("output_t") > 0 and domain not in factors.avoided:
        flags.append(f"no_factor:avoided:{domain}")
    return flags


def _co2_table(quantity: str, factors: FactorSet) -> Mapping[str, object]:
    if quantity == "electricity_kwh":
        return {quantity: factors.grid} if factors.grid else {}
    return factors.process if quantity == "coke_kg" else factors.combustion


def finish(sums: Mapping[str, Decimal], activity: Activity,
           basis: Basis) -> dict[str, Decimal | None]:
    """Scopes, totals, ratios and data quality from summed additive figures."""
    scope1 = sums["co2_combustion_kg"] + sums["co2_process_kg"]
    scope2 = sums["co2_electricity_kg"] + sums["co2_heat_kg"]
    tonnes = sums["input_t" if basis == "input" else "output_t"]
    coverage, substituted = quality(activity)
    return {**sums, "co2_scope1_kg": scope1, "co2_scope2_kg": scope2,
            "co2_total_kg": scope1 + scope2,
            "sec_kwh_per_t": per_tonne(sums["electricity_kwh"], tonnes),
            "energy_kgce_per_t": per_tonne(sums["energy_kgce"], tonnes),
            "intensity_kg_per_t": per_tonne(scope1 + scope2, tonnes),
            "coverage": coverage, "substituted_share": substituted}


def quality(activity: Activity) -> tuple[Decimal, Decimal]:
    """Coverage of the worst-covered quantity and substituted share of the worst-substituted."""
    measured = [m for m in activity.quantities.values() if m.duration_ms > 0]
    coverage = min((Decimal(m.covered_ms) / m.duration_ms for m in measured), default=ZERO)
    shares = [m.substituted / m.amount for m in measured if m.amount > 0]
    return coverage, max(shares, default=ZERO)


def figure_rows(devices: Mapping[Device, Activity], factors: FactorSet,
                basis: Basis) -> list[Row]:
    """Device, line and site rows, in a fixed order."""
    flagged = {d: a + Activity(flags=frozenset(missing_factors(a, d.domain, factors)))
               for d, a in devices.items()}
    sums = {d: device_figures(a, d.domain, factors) for d, a in flagged.items()}
    rows = [Row("device", d.line, d.device, d.domain or "meter",
                finish(sums[d], a, basis), a) for d, a in flagged.items()]
    by_line: dict[str, list[Device]] = defaultdict(list)
    for device in flagged:
        by_line[device.line].append(device)
    for line, members in sorted(by_line.items()):
        rows.append(_aggregate("line", line, members, flagged, sums, basis))
    rows.append(_aggregate("site", None, list(flagged), flagged, sums, basis))
    return rows


def _aggregate(level: Level, line: str | None, members: Sequence[Device],
               activities: Mapping[Device, Activity], sums: Mapping[Device, Mapping[str, Decimal]],
               basis: Basis) -> Row:
    activity = total(activities[d] for d in members)
    keys = (*AMOUNTS, *SOURCES)
    summed = {k: sum((sums[d][k] for d in members), ZERO) for k in keys}
    domains = {d.domain for d in members if d.domain}
    domain = domains.pop() if len(domains) == 1 else "mixed"
    return Row(level, line, None, domain, finish(summed, activity, basis), activity)
