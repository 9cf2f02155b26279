"""Every endpoint, every role: who is let in, who gets 401 or 403 (as problem details)."""

from __future__ import annotations

import pytest

from gateway.core.security import Role
from tests.gateway.carbon_day import LABEL, close_day
from tests.gateway.conftest import Harness

A, OP, E, U = Role.ADMIN, Role.OPERATOR, Role.EQUIPMENT_MAKER, Role.AUDITOR
DEVICE = {"site": "zz", "line": "l1", "device": "d1", "device_type": "belt_scale"}
METRIC = "site=zz&line=l1&device=d1&metric=rate_tph"
# method, path, body, roles allowed. Device routes use a device the role itself registers.
MATRIX = [
    ("POST", "/v1/devices", DEVICE, {A, OP, E}),
    ("GET", "/v1/devices", None, {A, OP, E}),
    ("GET", "/v1/devices/zz.l1.d1", None, {A, OP, E}),
    ("POST", "/v1/devices/zz.l1.d1/rotate", None, {A, OP, E}),
    ("DELETE", "/v1/devices/zz.l1.d1", None, {A, OP, E}),
    ("GET", f"/v1/metrics/series?{METRIC}", None, {A, OP, U, E}),
    ("GET", f"/v1/metrics/aggregate?{METRIC}", None, {A, OP, U, E}),
    ("GET", f"/v1/reports/carbon/zz/{LABEL}", None, {A, OP, U}),
    ("GET", f"/v1/reports/carbon/zz/{LABEL}?format=html", None, {A, OP, U}),
    ("GET", "/v1/ledger/records", None, {A, OP, U}),
    ("GET", "/v1/ledger/records/1", None, {A, OP, U}),
    ("GET", "/v1/ledger/verify", None, {A, OP, U}),
    ("GET", "/v1/regulator/sites", None, {A, U}),
    ("GET", f"/v1/regulator/rollup/{LABEL}?format=csv", None, {A, U}),
    ("GET", "/metrics", None, {A, OP}),
]


def _prepare(gw: Harness, role: Role, path: str) -> None:
    """Device routes act on a device registered by `role` itself (or by admin); report and
    ledger routes on a closed day."""
    if "/v1/reports/" in path or "/v1/ledger/" in path:
        close_day(gw.ledger, "zz")
    if "/v1/devices/" in path or "/v1/metrics/" in path:
        owner = role if role is not U else A
        response = gw.client.post("/v1/devices", json=DEVICE, headers=gw.auth(owner))
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX)
@pytest.mark.parametrize("role", list(Role))
def test_role_matrix(gw: Harness, role: Role, method: str, path: str, body: object,
                     allowed: set[Role]) -> None:
    _prepare(gw, role, path)
    response = gw.client.request(method, path, json=body, headers=gw.auth(role))
    if role in allowed:
        assert response.status_code < 400, response.text
    else:
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 403


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX)
@pytest.mark.parametrize("header", [None, "Bearer lm_wrong", "Bearer ", "Basic abc"])
def test_unauthenticated_requests_get_401(gw: Harness, method: str, path: str, body: object,
                                          allowed: set[Role], header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = gw.client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["title"] == "Unauthorized"
    assert problem["instance"] == path.split("?")[0]


def test_revoked_token_gets_401(gw: Harness) -> None:
    token_id, headers = gw.new_token(A)
    assert gw.client.get("/v1/devices", headers=headers).status_code == 200
    assert gw.registry.revoke_token(token_id, gw.clock.now_ms())
    assert gw.client.get("/v1/devices", headers=headers).status_code == 401


def test_device_ingest_token_is_not_an_api_token(gw: Harness) -> None:
    bundle = gw.client.post("/v1/devices", json=DEVICE, headers=gw.auth(A)).json()
    headers = {"Authorization": f"Bearer {bundle['ingest_token']}"}
    assert gw.client.get("/v1/devices", headers=headers).status_code == 401
