"""The gateway refuses before it reads: auth before body, body limits while streaming, rate
limits per token, out-of-range parameters as 422."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.ratelimit import RateLimiter
from gateway.core.security import Role
from tests.gateway.conftest import Harness, fake_gateway, fake_settings, harness

DEVICE = {"site": "zz", "line": "l1", "device": "d1", "device_type": "belt_scale"}
INGEST = "/v1/devices/zz.l1.d1/data"


CHUNK = 65_536


def post_streamed(gw: Harness, path: str, chunks: int,
                  headers: dict[str, str]) -> tuple[int, dict[str, str], int]:
    """POST a body of `chunks` chunks straight into the ASGI app, as a server streams it
    (the test client reads a body whole first); the status, headers and chunks pulled."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled == chunks:
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "server": ("testserver", 80),
             "client": ("127.0.0.1", 1234), "app": gw.client.app,
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    gw.client.portal.call(gw.client.app, scope, receive, send)  # type: ignore[union-attr]
    start = next(m for m in sent if m["type"] == "http.response.start")
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, pulled)


def _ingest_token(gw: Harness) -> str:
    response = gw.client.post("/v1/devices", json=DEVICE, headers=gw.auth(Role.OPERATOR))
    assert response.status_code == 201, response.text
    return str(response.json()["ingest_token"])


@pytest.mark.parametrize("url", ["/v1/devices", INGEST])
@pytest.mark.parametrize("authorization", [None, "Bearer lm_api_nope", "Basic eDp5"])
def test_a_large_body_without_a_valid_token_is_refused_before_it_is_read(
        gw: Harness, url: str, authorization: str | None) -> None:
    headers = {"content-type": "application/json"}
    if authorization:
        headers["authorization"] = authorization
    status, answer, pulled = post_streamed(gw, url, 3200, headers)  # 200 MiB if it were read
    assert status == 401
    assert answer["content-type"] == "application/problem+json"
    assert answer["www-authenticate"] == "Bearer"
    assert pulled == 0


def test_a_declared_length_over_the_limit_is_413_at_once(gw: Harness) -> None:
    response = gw.client.post("/v1/devices", content=b"{}", headers={
        **gw.auth(Role.ADMIN), "Content-Length": str(10**9)})
    assert response.status_code == 413


@pytest.mark.parametrize(("url", "limit"), [("/v1/devices", 65_536), (INGEST, 1_048_576)])
def test_a_streamed_body_past_the_limit_is_413_and_not_read_further(gw: Harness, url: str,
                                                                     limit: int) -> None:
    token = _ingest_token(gw) if url == INGEST else gw.tokens[Role.ADMIN]
    status, answer, pulled = post_streamed(gw, url, 3200, {"authorization": f"Bearer {token}"})
    assert status == 413  # no Content-Length: the limit holds while the body streams
    assert answer["content-type"] == "application/problem+json"
    assert pulled == limit // CHUNK + 1


def test_a_body_within_the_limit_is_served(gw: Harness) -> None:
    token = _ingest_token(gw)
    sample = {"ts": gw.clock.now - 1000, "values": {"rate_tph": 12.5}}
    body = json.dumps({"v": 1, "device_type": "belt_scale", "seq": 0, "samples": [sample]})
    response = gw.client.post(INGEST, content=body.encode(),
                              headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.text


def test_each_token_has_its_own_rate_and_is_told_when_to_retry(tmp_path: Path) -> None:
    fake = fake_gateway(tmp_path / "g.sqlite", fake_settings(rate_limit_per_s=2.0,
                                                             rate_limit_burst=3))
    admin = {"Authorization": f"Bearer {fake.records[Role.ADMIN][1]}"}
    auditor = {"Authorization": f"Bearer {fake.records[Role.AUDITOR][1]}"}
    with TestClient(fake.app, raise_server_exceptions=False) as client:
        codes = [client.get("/v1/devices", headers=admin).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.get("/v1/devices", headers=admin)
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert client.get("/v1/ledger/records", headers=auditor).status_code == 200
        fake.clock.sleep(0.5)  # one request's worth at 2 per second
        assert client.get("/v1/devices", headers=admin).status_code == 200
        assert client.get("/v1/devices", headers=admin).status_code == 429
    fake.registry.close()


@given(st.floats(0.1, 100), st.integers(1, 50), st.lists(st.floats(0, 10), max_size=60))
def test_the_limiter_never_allows_more_than_burst_plus_rate_times_elapsed(
        rate: float, burst: int, steps: list[float]) -> None:
    limiter, now, allowed = RateLimiter(rate, burst), 0.0, 0
    for step in steps:
        now += step
        wait = limiter.take("k", now)
        assert wait >= 0
        allowed += wait == 0
    assert allowed <= burst + rate * now + 1e-9


def test_the_limiter_remembers_a_bounded_number_of_tokens() -> None:
    limiter = RateLimiter(1.0, 1, max_keys=2)
    for key in ("a", "b", "c"):
        assert limiter.take(key, 0.0) == 0
    assert len(limiter._buckets) == 2
    assert limiter.take("c", 0.0) == pytest.approx(1.0)


@pytest.mark.parametrize("url", ["/v1/ledger/records/99999999999999999999999",
                                 "/v1/ledger/records?after_seq=99999999999999999999999",
                                 "/v1/ledger/records/9223372036854775808"])
def test_an_out_of_range_sequence_number_is_422(gw: Harness, url: str) -> None:
    response = gw.client.get(url, headers=gw.auth(Role.AUDITOR))
    assert response.status_code == 422


def test_the_largest_sequence_number_is_a_plain_404(gw: Harness) -> None:
    response = gw.client.get("/v1/ledger/records/9223372036854775807",
                             headers=gw.auth(Role.AUDITOR))
    assert response.status_code == 404


def test_the_registry_is_created_private(tmp_path: Path) -> None:
    with harness(tmp_path):
        pass
    assert (tmp_path / "gateway.sqlite").stat().st_mode & 0o777 == 0o600
