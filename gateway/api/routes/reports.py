"""Carbon reports of closed periods: JSON, CSV, a printable HTML page, or its PDF."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import GatewayDep, ReportViewer
from gateway.api.models import IDENTIFIER, REPORT_PERIOD
from gateway.api.problems import problem_responses

router = APIRouter(prefix="/v1/reports", tags=["reports"],
                   responses=problem_responses(401, 403, 404, 422))


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"
    PDF = "pdf"


MEDIA_TYPES = {ReportFormat.JSON: "application/json; charset=utf-8",
               ReportFormat.CSV: "text/csv; charset=utf-8",
               ReportFormat.HTML: "text/html; charset=utf-8", ReportFormat.PDF: "application/pdf"}
# The page is static: no scripts, no remote anything; styles only inline.
_HTML_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@router.get("/carbon/{site}/{period}", response_class=Response, responses={200: {
    "description": "The report",
    "content": {m.split(";")[0]: {} for m in MEDIA_TYPES.values()}}})
async def carbon_report(site: Annotated[str, Path(pattern=IDENTIFIER)],
                        period: Annotated[str, Path(pattern=REPORT_PERIOD, description=(
                            "2026-10, 2026-10-05, 2026-10-05T13 or 2026-10-05T13:15, in the "
                            "site's local time; or a span summed from closed records: 2026, "
                            "2026-01..2026-03, 2026-10-03..2026-10-05."))],
                        gateway: GatewayDep, _principal: ReportViewer,
                        fmt: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.JSON,
                        ) -> Response:
    """The energy and carbon report of a closed period, from its newest ledger record."""
    data = await run_in_threadpool(gateway.adapters.reports.render, site, period, fmt.value)
    headers = {"Content-Disposition": f'inline; filename="carbon-{site}-{period}.{fmt}"'}
    if fmt is ReportFormat.HTML:
        headers["Content-Security-Policy"] = _HTML_POLICY
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)
