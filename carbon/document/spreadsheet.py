"""The report as a spreadsheet: one row per figure, exact values, UTF-8 with a BOM. Pure.

Columns: section, line, quantity, value, unit, quality. Values are the ledger's exact
decimals in their stored unit (kg CO2, kgce, kWh ...), not the rounded display, so that a
spreadsheet sum reproduces the record. The BOM makes Excel read the Chinese labels as UTF-8.
"""

from __future__ import annotations

import csv
import io

from carbon.document.content import FACTORS, Document

BOM = "\ufeff"
HEADER = ("section", "line", "quantity", "value", "unit", "quality")


def render_csv(doc: Document) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for f in doc.figures:
        writer.writerow((f"{f.section[0]} / {f.section[1]}", f.line,
                         f"{f.quantity[0]} / {f.quantity[1]}",
                         "" if f.value is None else str(f.value), f.rule.unit, f.quality))
    for row in doc.factors:
        writer.writerow((f"{FACTORS[0]} / {FACTORS[1]}", row.id,
                         f"data year {row.data_year}; {row.document}", row.value, row.unit,
                         row.status))
    return BOM + out.getvalue()
