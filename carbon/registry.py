"""The factor registry: every emission and conversion factor as a row of data, with its source.

Rows are loaded from `factors.yaml` and validated at start; nothing in the code carries a
factor value. Selection rules (which row applies to a period) live here too, so that the
report can say why a row was chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapters.errors import InvalidInput

DEFAULT_FACTORS = "factors.yaml"
LOCATION_FALLBACK = ("henan", "central_china", "national")
"""Location-based Scope 2 for a Henan site: the provincial factor, then the regional grid,
then the national average (GHG Protocol Scope 2 Guidance; regions as named by MEE)."""


class Status(StrEnum):
    VERIFIED = "V"
    SECONDARY = "V-1"
    UNVERIFIED = "U"


class FactorKind(StrEnum):
    KGCE = "kgce"
    GRID_CO2 = "grid_co2"
    COMBUSTION_CO2 = "combustion_co2"
    PROCESS_CO2 = "process_co2"
    HEAT_CO2 = "heat_co2"
    AVOIDED_CO2 = "avoided_co2"


UseClass = Literal["conversion", "inventory-location", "inventory-market",
                   "enterprise-reporting", "footprint", "avoided-benchmark"]


class RegistryError(InvalidInput, ValueError):
    """The factor file is malformed or breaks a registry rule; the message says where."""


class Factor(BaseModel):
    """One factor as published: value, unit, where it comes from, when and how it applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=3, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: FactorKind
    subject: str = Field(min_length=1, description="Carrier, region or domain it applies to.")
    variant: str = ""
    value: Decimal = Field(gt=0)
    unit: str = Field(min_length=1)
    data_year: int | None = Field(None, ge=1990, le=2100)
    publisher: str = Field(min_length=1)
    document: str = Field(min_length=1)
    url: str = ""
    valid_from: date | None = None
    valid_to: date | None = None
    use_class: UseClass
    gwp_set: str | None = None
    status: Status
    note: str = ""

    @field_validator("value", mode="before")
    @classmethod
    def _exact_text(cls, value: object) -> object:
        # A YAML float has already lost its published digits; the file must quote values.
        if isinstance(value, float):
            raise ValueError("quote the value as a string so that it stays exact")
        return value

    def valid_on(self, day: date) -> bool:
        return ((self.valid_from is None or self.valid_from <= day)
                and (self.valid_to is None or day < self.valid_to))

    def citation(self) -> str:
        year = f", data year {self.data_year}" if self.data_year else ""
        return f"{self.publisher}, {self.document}{year} [{self.status.value}]"


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry_version: int = Field(ge=1)
    factors: list[Factor] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class GridChoice:
    """The grid factor used for a period and the regions tried before it."""

    factor: Factor
    tried: tuple[str, ...]
    period_year: int | None = None

    @property
    def fell_back(self) -> bool:
        return len(self.tried) > 1

    @property
    def stale_year(self) -> int | None:
        """The data year used when it is not the period's own (domain: `stale_factor:Y`)."""
        year = self.factor.data_year
        return year if self.period_year is not None and year != self.period_year else None


class Registry:
    """Validated factors, looked up by id or by the selection rules below."""

    def __init__(self, factors: Sequence[Factor], version: int = 1) -> None:
        _check_rows(factors)
        self.version = version
        self.factors: tuple[Factor, ...] = tuple(factors)
        self._by_id = {f.id: f for f in factors}

    def __getitem__(self, factor_id: str) -> Factor:
        return self._by_id[factor_id]

    def kgce(self, carrier: str, variant: str = "") -> Factor | None:
        """The GB/T 2589 coefficient for a carrier; the best-verified row if several match."""
        rows = [f for f in self.factors if f.kind is FactorKind.KGCE and f.subject == carrier
                and (not variant or f.variant == variant)]
        return _best(rows)

    def emission(self, kind: FactorKind, subject: str, day: date) -> Factor | None:
        """The inventory factor of `kind` for `subject` valid on `day`, newest data first."""
        use = "avoided-benchmark" if kind is FactorKind.AVOIDED_CO2 else "inventory-location"
        rows = [f for f in self.factors if f.kind is kind and f.subject == subject
                and f.use_class == use and f.valid_on(day)]
        return _best(rows)

    def grid(self, region: str, day: date) -> GridChoice | None:
        """Location-based grid factor: `region`, then the fallbacks after it in order.

        Domain rule: the factor of the period's own data year applies (it is announced one
        to two years later, so the announcement date does not restrict which periods it
        serves); until it is in the registry, the most recent earlier year of the same
        region, flagged stale; only a region with no year at all falls back to the next.
        """
        order = LOCATION_FALLBACK[LOCATION_FALLBACK.index(region):] if (
            region in LOCATION_FALLBACK) else (region, *LOCATION_FALLBACK)
        for position, name in enumerate(order):
            factor = self._grid_of(name, day)
            if factor is not None:
                return GridChoice(factor, tuple(order[:position + 1]), day.year)
        return None

    def _grid_of(self, region: str, day: date) -> Factor | None:
        rows = [f for f in self.factors if f.kind is FactorKind.GRID_CO2 and f.subject == region
                and f.use_class == "inventory-location" and f.data_year is not None
                and (f.valid_to is None or day < f.valid_to)]
        earlier = [f for f in rows if f.data_year is not None and f.data_year <= day.year]
        if earlier:
            return _best(earlier)
        later = sorted(rows, key=lambda f: (f.data_year or 0, _STATUS_RANK[f.status], f.id))
        return later[0] if later else None


_STATUS_RANK = {Status.VERIFIED: 0, Status.SECONDARY: 1, Status.UNVERIFIED: 2}


def _best(rows: Iterable[Factor]) -> Factor | None:
    ranked = sorted(rows, key=lambda f: (-(f.data_year or 0), _STATUS_RANK[f.status], f.id))
    return ranked[0] if ranked else None


def _check_rows(factors: Sequence[Factor]) -> None:
    seen: set[str] = set()
    for factor in factors:
        if factor.id in seen:
            raise RegistryError(f"factor id {factor.id!r} appears twice; add a new id instead")
        seen.add(factor.id)
        if factor.valid_from and factor.valid_to and factor.valid_to <= factor.valid_from:
            raise RegistryError(f"factor {factor.id!r}: valid_to is not after valid_from")


def parse_registry(text: str, source: str = DEFAULT_FACTORS) -> Registry:
    """Validate a registry file's text; raise RegistryError naming the first problem."""
    try:
        data = yaml.safe_load(text)
        parsed = _File.model_validate(data)
    except (yaml.YAMLError, ValidationError) as error:
        raise RegistryError(f"{source}: {error}") from error
    return Registry(parsed.factors, parsed.registry_version)


def load_registry(path: Path | None = None) -> Registry:
    """The registry at `path`, or the one shipped with the package."""
    if path is not None:
        return parse_registry(path.read_text(encoding="utf-8"), str(path))
    text = resources.files(__package__).joinpath(DEFAULT_FACTORS).read_text(encoding="utf-8")
    return parse_registry(text)
