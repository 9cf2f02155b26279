"""The formulas, in Decimal, with no I/O. Factors come in as values; units are in the names.

Each function is one line of arithmetic an auditor can redo by hand; tests/carbon/
test_formulas.py does exactly that for each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


def convert(amount: Decimal, factor: Decimal) -> Decimal:
    """Activity times factor: kgce from a carrier, kg CO2 from fuel, electricity or heat."""
    return amount * factor


def per_tonne(numerator: Decimal, tonnes: Decimal) -> Decimal | None:
    """Specific consumption or intensity; None where no tonnes were processed."""
    return numerator / tonnes if tonnes > 0 else None


@dataclass(frozen=True, slots=True)
class Baseline:
    """ISO 50006 regression model: energy = fixed + variable x tonnes, fitted on a baseline."""

    fixed: Decimal
    variable: Decimal
    points: int
    r_squared: Decimal | None

    def expected(self, tonnes: Decimal) -> Decimal:
        return self.fixed + self.variable * tonnes


def fit_baseline(points: Sequence[tuple[Decimal, Decimal]]) -> Baseline | None:
    """Least squares over (tonnes, energy) pairs; None if the tonnes never vary."""
    n = Decimal(len(points))
    if n < 2:
        return None
    mean_t = sum((t for t, _ in points), ZERO) / n
    mean_e = sum((e for _, e in points), ZERO) / n
    sxx = sum(((t - mean_t) ** 2 for t, _ in points), ZERO)
    if sxx == 0:
        return None
    sxy = sum(((t - mean_t) * (e - mean_e) for t, e in points), ZERO)
    variable = sxy / sxx
    fixed = mean_e - variable * mean_t
    return Baseline(fixed, variable, len(points), _r_squared(points, fixed, variable, mean_e))


def _r_squared(points: Sequence[tuple[Decimal, Decimal]], fixed: Decimal, variable: Decimal,
               mean_e: Decimal) -> Decimal | None:
    total = sum(((e - mean_e) ** 2 for _, e in points), ZERO)
    if total == 0:
        return None
    residual = sum(((e - fixed - variable * t) ** 2 for t, e in points), ZERO)
    return 1 - residual / total


def enpi_index(actual: Decimal, expected: Decimal) -> Decimal | None:
    """Actual over baseline-expected energy: below 1 means the plant improved."""
    return actual / expected if expected > 0 else None
