"""The demo's chart: what Loopmeter computed beside the simulator's ground truth, per line.

Pure: figures in, SVG text out. One row of panels per line, one panel per quantity; in each
panel the computed bar stands beside the true one, both scaled to the larger of the two,
so a deviation shows as a height difference whatever the quantity's unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

from loopmeter.units import significant

PANEL_W, PANEL_H = 150, 130
BAR_W, BAR_TOP, BAR_BOTTOM = 36, 34, 104  # bar area of a panel, in panel coordinates
LABEL_W, TITLE_H = 90, 40
COMPUTED, TRUTH = "#2b6cb0", "#a0aec0"


def chart_svg(title: str, quantities: Sequence[tuple[str, str]],
              computed: Mapping[str, Mapping[str, Decimal | None]],
              truth: Mapping[str, Mapping[str, Decimal]]) -> str:
    """SVG of computed vs true `quantities` ((key, label) pairs) for every line of `computed`."""
    lines = sorted(computed)
    width = LABEL_W + PANEL_W * len(quantities)
    height = TITLE_H + PANEL_H * len(lines) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             _text(8, 20, title, size=14, weight="bold"), *_legend(width)]
    for row, line in enumerate(lines):
        y = TITLE_H + row * PANEL_H
        parts.append(_text(8, y + PANEL_H // 2, line, weight="bold"))
        for column, (key, label) in enumerate(quantities):
            parts += _panel(LABEL_W + column * PANEL_W, y, label, computed[line].get(key),
                            truth.get(line, {}).get(key))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(x: int, y: int, label: str, computed: Decimal | None,
           true: Decimal | None) -> list[str]:
    parts = [f'<rect x="{x + 4}" y="{y + 4}" width="{PANEL_W - 8}" height="{PANEL_H - 8}" '
             'fill="none" stroke="#e2e8f0"/>', _text(x + 10, y + 20, label)]
    top = max(abs(v) for v in (computed, true, Decimal(0)) if v is not None)
    for offset, value, colour, kind in ((24, computed, COMPUTED, "computed"),
                                        (70, true, TRUTH, "truth")):
        parts += _bar(x + offset, y, value, top, colour, kind)
    return parts


def _bar(x: int, y: int, value: Decimal | None, top: Decimal, colour: str,
         kind: str) -> list[str]:
    if value is None:
        return [_text(x + 4, y + BAR_BOTTOM, "—")]
    span = BAR_BOTTOM - BAR_TOP
    height = 0 if top == 0 else round(float(abs(value) / top) * span, 1)
    return [f'<rect class="{kind}" x="{x}" y="{y + BAR_BOTTOM - height}" width="{BAR_W}" '
            f'height="{height}" fill="{colour}" data-value="{value}"/>',
            _text(x, y + BAR_BOTTOM + 14, significant(value))]


def _legend(width: int) -> list[str]:
    x = width - 170
    return [f'<rect x="{x}" y="10" width="10" height="10" fill="{COMPUTED}"/>',
            _text(x + 14, 19, "computed"),
            f'<rect x="{x + 80}" y="10" width="10" height="10" fill="{TRUTH}"/>',
            _text(x + 94, 19, "ground truth")]


def _text(x: float, y: float, text: str, *, size: int = 11, weight: str = "normal") -> str:
    return (f'<text x="{x}" y="{y}" font-size="{size}" font-weight="{weight}">'
            f"{escape(text)}</text>")
