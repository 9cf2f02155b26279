"""How figures are shown in the printed report: units, decimals, rounding. Pure.

The rules (documented in docs/carbon.md, "Display rounding"):
- Rounding is GB/T 8170-2008 数值修约 ("round half to even", 四舍六入五成双), applied once,
  to the exact Decimal the ledger holds; a total is rounded on its own, never summed from
  rounded parts, so displayed parts may differ from the displayed total in the last digit.
- CO2 is shown in tonnes with 3 decimals (one kilogram); energy in tonnes of coal equivalent
  with 3 decimals; intensities with 2 decimals; activity data in its metered unit (kWh, Nm3
  and kg to 1 decimal, tonnes to 3); factors exactly as published, never rounded.
- Shares (coverage, substituted share) are percentages with 2 decimals, rounded toward the
  less favourable side: coverage down, substitution up, so 99.996 % never reads 100.00 %.
- JSON and CSV carry the exact values.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation

NOT_AVAILABLE = "不可用 / not available"


@dataclass(frozen=True, slots=True)
class Rule:
    """Display of one kind of quantity: its stored unit, shown unit, scale and decimals."""

    unit: str
    shown_unit: str
    divisor: Decimal
    places: int
    rounding: str = ROUND_HALF_EVEN


CO2 = Rule("kg CO2", "t CO2", Decimal(1000), 3)
CO2_KG = Rule("kg CO2", "kg CO2", Decimal(1), 1)
ENERGY = Rule("kgce", "tce", Decimal(1000), 3)
KGCE_PER_T = Rule("kgce/t", "kgce/t", Decimal(1), 2)
CO2_PER_T = Rule("kg CO2/t", "kg CO2/t", Decimal(1), 2)
KWH_PER_T = Rule("kWh/t", "kWh/t", Decimal(1), 2)
COVERAGE = Rule("1", "%", Decimal("0.01"), 2, ROUND_FLOOR)
SUBSTITUTED = Rule("1", "%", Decimal("0.01"), 2, ROUND_CEILING)
ACTIVITY = {"kWh": Rule("kWh", "kWh", Decimal(1), 1), "Nm3": Rule("Nm3", "Nm3", Decimal(1), 1),
            "kg": Rule("kg", "kg", Decimal(1), 1), "t": Rule("t", "t", Decimal(1), 3),
            "units": Rule("units", "units", Decimal(1), 0)}


def exact(value: object) -> Decimal | None:
    """The Decimal a report field holds, or None when it is absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def rounded(value: object, rule: Rule) -> Decimal | None:
    number = exact(value)
    if number is None:
        return None
    return (number / rule.divisor).quantize(Decimal(1).scaleb(-rule.places), rule.rounding)


def shown(value: object, rule: Rule) -> str:
    """`value` (in rule.unit) as printed: scaled, rounded, grouped by thousands."""
    number = rounded(value, rule)
    if number is None:
        return NOT_AVAILABLE
    return f"{number:,.{rule.places}f}"


def shown_with_unit(value: object, rule: Rule) -> str:
    text = shown(value, rule)
    return text if text == NOT_AVAILABLE else f"{text} {rule.shown_unit}"


def activity_rule(unit: str) -> Rule:
    return ACTIVITY.get(unit, Rule(unit, unit, Decimal(1), 3))
