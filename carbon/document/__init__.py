"""The carbon report as a document an authority files: bilingual HTML with SVG charts, PDF
printed by headless Chromium, a one-figure-per-row CSV, and JSON with the exact values.

`carbon.report.build_report` stays the data source; this package only presents it.
"""

from __future__ import annotations

from carbon.document.content import Document, TrendPoint, build_document
from carbon.document.reports import FORMATS, Format, Reports, render_document

__all__ = ["FORMATS", "Document", "Format", "Reports", "TrendPoint", "build_document",
           "render_document"]
