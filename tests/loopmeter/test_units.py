"""Numbers for people: 4 significant digits, thousands separators, nothing more."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopmeter.units import significant


@pytest.mark.parametrize(("value", "shown"), [
    (8724.3, "8,724"), (123456, "123,500"), (2.83123, "2.831"), (0.034123, "0.03412"),
    (Decimal("1.234567890123456789012345678"), "1.235"), (0.5, "0.5"), (99.996, "100"),
    (9999.6, "10,000"), (-1234.5, "-1,235"), (0, "0"), (1e-7, "0.0000001"),
])
def test_examples(value: float | Decimal, shown: str) -> None:
    assert significant(value) == shown


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False,
                   allow_infinity=False, places=8))
def test_at_most_four_significant_digits_and_close_to_the_value(value: Decimal) -> None:
    shown = significant(value)
    assert "e" not in shown.lower()
    back = Decimal(shown.replace(",", ""))
    digits = back.normalize().as_tuple().digits if back else (0,)
    assert len(digits) <= 4 or back == back.to_integral_value()
    assert abs(back - value) <= abs(value) * Decimal("0.0005") + Decimal("1e-20")
