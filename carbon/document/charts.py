"""Inline SVG charts for the printed report: no script, no network, fonts from the page. Pure.

Two shapes are enough for an auditor's document: labelled horizontal bars (CO2 by source,
energy by carrier) and columns over time (the trend of the period's days or hours, and their
data coverage). Every bar carries its rounded value as text, so the chart reads in print.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal

WIDTH = 640
BAR_HEIGHT = 22
LABEL_WIDTH = 230
COLOURS = ("#1f5f8b", "#c8553d", "#588b3a", "#8a6fb0", "#d4a017", "#4f7c82")


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11,
          fill: str = "#222") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}">{html.escape(text)}</text>')


def bars(title: str, items: Sequence[tuple[str, Decimal, str]]) -> str:
    """Horizontal bars of (label, value, value as printed); negative values drawn as zero."""
    if not items:
        return empty(title)
    top = max((v for _, v, _ in items), default=Decimal(0))
    span = WIDTH - LABEL_WIDTH - 110
    height = 30 + len(items) * (BAR_HEIGHT + 6)
    parts = [_text(0, 16, title, size=13, fill="#000")]
    for index, (label, value, printed) in enumerate(items):
        y = 28 + index * (BAR_HEIGHT + 6)
        length = float(max(value, Decimal(0)) / top) * span if top > 0 else 0.0
        parts += [_text(LABEL_WIDTH - 6, y + 15, label, anchor="end"),
                  f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
                  f'fill="{COLOURS[index % len(COLOURS)]}"/>',
                  _text(LABEL_WIDTH + length + 6, y + 15, printed)]
    return _svg(height, title, parts)


def columns(title: str, unit: str, points: Sequence[tuple[str, Decimal | None]],
            ceiling: Decimal | None = None) -> str:
    """Columns over time; a missing point is marked with a cross, not drawn as zero."""
    if not points:
        return empty(title)
    known = [v for _, v in points if v is not None]
    if not known:
        return empty(title, "子周期均未结算 / none of its sub-periods is closed")
    top = ceiling if ceiling is not None else max(known, default=Decimal(0))
    left, bottom, plot_h = 56, 190, 150
    step = (WIDTH - left - 10) / len(points)
    parts = [_text(0, 16, title, size=13, fill="#000"),
             _text(left - 6, bottom - plot_h + 4, _compact(top), anchor="end", size=10),
             _text(left - 6, bottom + 4, "0", anchor="end", size=10),
             _text(left - 6, bottom - plot_h - 10, unit, anchor="end", size=10),
             f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - 10}" y2="{bottom}" stroke="#555"/>']
    every = max(1, len(points) // 12)
    for index, (label, value) in enumerate(points):
        x = left + index * step
        if value is None:
            parts.append(_text(x + step / 2, bottom - 4, "×", anchor="middle", fill="#c00"))
        else:
            h = float(max(value, Decimal(0)) / top) * plot_h if top > 0 else 0.0
            parts.append(f'<rect x="{x + step * 0.1:.1f}" y="{bottom - h:.1f}" '
                         f'width="{step * 0.8:.1f}" height="{h:.1f}" fill="{COLOURS[0]}"/>')
        if index % every == 0:
            parts.append(_text(x + step / 2, bottom + 14, label, anchor="middle", size=9))
    return _svg(bottom + 22, title, parts)


def empty(title: str, why: str = "无数据 / no data") -> str:
    return _svg(40, title, [_text(0, 16, title, size=13, fill="#000"),
                            _text(0, 34, why, fill="#777")])


def _compact(value: Decimal) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2f}"


def _svg(height: int, title: str, parts: Sequence[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
            f'height="{height}" viewBox="0 0 {WIDTH} {height}" class="chart">'
            f"<title>{html.escape(title)}</title>{''.join(parts)}</svg>")
