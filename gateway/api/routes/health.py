"""Operations: health (for load balancers, no token) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.deps import GatewayDep, Monitor
from gateway.api.models import HealthReport
from gateway.api.problems import problem_responses
from gateway.context import HealthCheck

router = APIRouter(tags=["operations"])


@router.get("/health", responses={503: {"model": HealthReport,
                                        "description": "A dependency is down."}})
@router.get("/healthz", include_in_schema=False)  # the other services' name for it
def health(gateway: GatewayDep) -> JSONResponse:
    """Whether the registry, the broker and InfluxDB answer; 503 if any does not."""
    checks = {name: _safe(check) for name, check in gateway.adapters.checks.items()}
    report = HealthReport(status="ok" if all(checks.values()) else "degraded", checks=checks)
    return JSONResponse(report.model_dump(), status_code=200 if report.status == "ok" else 503)


def _safe(check: HealthCheck) -> bool:
    try:
        return check()
    except Exception:  # a health check that fails is a failed check, never a 500
        return False


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **problem_responses(401, 403)})
def prometheus_metrics(gateway: GatewayDep, _principal: Monitor) -> Response:
    """The gateway's own metrics in the Prometheus text format (admin and operator tokens)."""
    return Response(generate_latest(gateway.telemetry.registry), media_type=CONTENT_TYPE_LATEST)
