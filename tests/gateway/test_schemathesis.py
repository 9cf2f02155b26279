"""Schemathesis against the OpenAPI spec: no generated request may cause a 5xx.

Requests carry an admin token (so they get past authentication and reach the handlers) and
run on the in-memory fakes; the examples per operation are bounded to keep this quick.
Schemathesis 4.32 generates the cases; they are sent through Starlette's TestClient because
its own requests transport fails on urllib3 2.8 (`TrafficPolice` has no `keys`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from gateway.core.security import Role
from tests.gateway.conftest import fake_gateway

MAX_EXAMPLES = 40
# Built at import: schemathesis parametrizes one test per operation at collection time.
FAKE = fake_gateway()
ADMIN = f"Bearer {FAKE.records[Role.ADMIN][1]}"
INGEST = "/v1/devices/{device_id}/data"
schema = schemathesis.openapi.from_asgi("/openapi.json", FAKE.app)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(FAKE.app, raise_server_exceptions=False) as started:
        yield started


@pytest.fixture(scope="module")
def device_token(client: TestClient) -> str:
    """HTTP ingest cases go to this device with its token, so they reach the decoder."""
    device = {"site": "zz", "line": "l1", "device": "d1", "device_type": "belt_scale"}
    bundle = client.post("/v1/devices", json=device, headers={"Authorization": ADMIN})
    return f"Bearer {bundle.json()['ingest_token']}"


def send(client: TestClient, case: Any, device_token: str) -> Any:
    token = ADMIN
    if case.path == INGEST:
        case.path_parameters["device_id"], token = "zz.l1.d1", device_token
    kwargs = case.as_transport_kwargs()
    headers = {**kwargs["headers"], "Authorization": token}
    body = {"json": kwargs["json"]} if "json" in kwargs else {"content": kwargs.get("data")}
    return client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                          headers=headers, **body)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_server_errors(case: Any, client: TestClient, device_token: str) -> None:
    response = send(client, case, device_token)
    assert response.status_code < 500, (case.method, case.path, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
