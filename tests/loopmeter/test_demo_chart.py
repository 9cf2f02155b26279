"""The demo's SVG chart: a computed and a true bar per line and quantity, to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from loopmeter.demo_chart import BAR_BOTTOM, BAR_TOP, chart_svg

SVG = "{http://www.w3.org/2000/svg}"
QUANTITIES = (("electricity_kwh", "kWh"), ("input_t", "in t"))


def _bars(svg: str, kind: str) -> list[ET.Element]:
    return [e for e in ET.fromstring(svg).iter(f"{SVG}rect") if e.get("class") == kind]


def test_each_line_and_quantity_has_both_bars_scaled_to_the_larger() -> None:
    svg = chart_svg("t", QUANTITIES,
                    {"fixed": {"electricity_kwh": Decimal(900), "input_t": Decimal(40)},
                     "mobile": {"electricity_kwh": Decimal(0), "input_t": None}},
                    {"fixed": {"electricity_kwh": Decimal(1000), "input_t": Decimal(40)},
                     "mobile": {"electricity_kwh": Decimal(0), "input_t": Decimal(10)}})
    computed, truth = _bars(svg, "computed"), _bars(svg, "truth")
    assert len(computed) == 3 and len(truth) == 4  # the missing figure has no bar
    span = BAR_BOTTOM - BAR_TOP
    heights = {(e.get("data-value"), kind): float(e.get("height") or 0)
               for kind, bars in (("c", computed), ("t", truth)) for e in bars}
    assert heights[("1000", "t")] == span
    assert heights[("900", "c")] == 0.9 * span
    assert heights[("40", "c")] == heights[("40", "t")] == span
    assert heights[("0", "c")] == 0
    assert "900" in svg and "fixed" in svg and "mobile" in svg
