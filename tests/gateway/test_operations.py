"""Health, Prometheus metrics, OpenAPI and error bodies."""

from __future__ import annotations

from gateway.core.security import Role
from tests.gateway.conftest import Harness


def test_health_needs_no_token_and_reports_each_check(gw: Harness) -> None:
    response = gw.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"registry": True, "broker": True}}
    gw.broker.down = True
    degraded = gw.client.get("/health")
    assert degraded.status_code == 503 and degraded.json()["status"] == "degraded"


def test_prometheus_metrics_count_requests_by_route(gw: Harness) -> None:
    gw.client.get("/v1/devices/zz.l1.d1", headers=gw.auth(Role.ADMIN))
    text = gw.client.get("/metrics", headers=gw.auth(Role.ADMIN)).text
    assert ('loopmeter_gateway_requests_total{method="GET",route="/v1/devices/{device_id}",'
            'status="404"} 1.0') in text


def test_unknown_paths_and_methods_are_problems(gw: Harness) -> None:
    missing = gw.client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {"type": "about:blank", "title": "Not Found", "status": 404,
                              "detail": "Not Found", "instance": "/nowhere"}
    wrong = gw.client.put("/v1/devices", headers=gw.auth(Role.ADMIN))
    assert wrong.status_code == 405 and wrong.json()["status"] == 405
    assert wrong.headers["x-content-type-options"] == "nosniff"


def test_openapi_documents_security_problems_and_the_data_contract(gw: Harness) -> None:
    spec = gw.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    assert "DataMessage" in spec["components"]["schemas"]
    assert "Sample" in spec["components"]["schemas"]
    register = spec["paths"]["/v1/devices"]["post"]
    assert "application/problem+json" in register["responses"]["403"]["content"]
    assert gw.client.get("/docs").status_code == 200
