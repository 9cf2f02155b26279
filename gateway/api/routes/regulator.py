"""The regulator's view across plants (auditor role): each site's standing, and a period's
energy and CO2 by recycling domain and city, with the plants left out named. JSON or CSV."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from carbon import rollup_csv, rollup_json, standings_csv, vars_of
from gateway.api.deps import GatewayDep, Regulator
from gateway.api.models import PERIOD
from gateway.api.problems import problem_responses

router = APIRouter(prefix="/v1/regulator", tags=["regulator"],
                   responses=problem_responses(401, 403, 422, 503))


class TableFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


def _csv(text: str, name: str) -> Response:
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.get("/sites", response_model=None, responses={200: {"content": {"text/csv": {}}}})
async def regulator_sites(gateway: GatewayDep, _principal: Regulator,
                          fmt: Annotated[TableFormat, Query(alias="format")] = TableFormat.JSON,
                          ) -> list[dict[str, Any]] | Response:
    """Every site: recycling domain, city, latest closed day, quality verdict, chain and
    signature status, coverage."""
    rows = await run_in_threadpool(gateway.adapters.reports.standings)
    if fmt is TableFormat.CSV:
        return _csv(standings_csv(rows), "sites")
    return [vars_of(row) for row in rows]


@router.get("/rollup/{period}", response_model=None,
            responses={200: {"content": {"text/csv": {}}}})
async def regulator_rollup(period: Annotated[str, Path(pattern=PERIOD)], gateway: GatewayDep,
                           _principal: Regulator,
                           fmt: Annotated[TableFormat, Query(alias="format")]
                           = TableFormat.JSON) -> dict[str, Any] | Response:
    """Energy and CO2 of a period by domain and city over the closed, fit plants; the
    missing, not-fit and unprofiled plants listed with the reason."""
    result = await run_in_threadpool(gateway.adapters.reports.rollup, period)
    if fmt is TableFormat.CSV:
        return _csv(rollup_csv(result), f"rollup-{result.period}")
    return rollup_json(result)
