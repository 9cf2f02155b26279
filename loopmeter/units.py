"""Numbers for people: a few significant digits, thousands separators, no exponent."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

SIGNIFICANT = 4


def significant(value: Decimal | float | int, digits: int = SIGNIFICANT) -> str:
    """`value` rounded to `digits` significant digits: 8,724, 2.831, 0.03412, 123,500, 0.5.

    Thousands separators, no exponent, no trailing zeros after the point, so a table of
    figures is easy to read and a 27-digit Decimal never reaches the screen.
    """
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if number.is_zero():
        return "0"
    rounded = _round(number, digits)
    rounded = _round(rounded, digits)  # 99.996 rounds up to 100.0: one more digit in front
    decimals = max(0, digits - 1 - rounded.copy_abs().adjusted())
    text = f"{rounded:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _round(number: Decimal, digits: int) -> Decimal:
    exponent = number.copy_abs().adjusted() - digits + 1
    return number.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)
