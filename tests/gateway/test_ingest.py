"""HTTP ingest: per-device auth, the contract's validation, publishing into MQTT."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.security import Role
from tests.gateway.conftest import Harness

DEVICE = {"site": "zz", "line": "l1", "device": "d1", "device_type": "belt_scale"}
URL = "/v1/devices/zz.l1.d1/data"


@pytest.fixture
def token(gw: Harness) -> str:
    response = gw.client.post("/v1/devices", json=DEVICE, headers=gw.auth(Role.OPERATOR))
    return str(response.json()["ingest_token"])


def _data(gw: Harness, seq: int = 7, **values: object) -> bytes:
    sample = {"ts": gw.clock.now - 1000, "values": values or {"rate_tph": 12.5}}
    return json.dumps({"v": 1, "device_type": "belt_scale", "seq": seq,
                       "samples": [sample]}).encode()


def _post(gw: Harness, token: str, body: bytes, url: str = URL) -> Any:
    return gw.client.post(url, content=body, headers={"Authorization": f"Bearer {token}",
                                                      "Content-Type": "application/json"})


def test_valid_data_is_published_unchanged_to_the_device_topic(gw: Harness, token: str) -> None:
    body = _data(gw)
    response = _post(gw, token, body)
    assert response.status_code == 202, response.text
    assert response.json() == {"topic": "loopmeter/v1/zz/l1/d1/data", "seq": 7, "samples": 1}
    assert gw.publisher.published == [("loopmeter/v1/zz/l1/d1/data", body)]


def test_contract_violations_are_422_with_field_errors(gw: Harness, token: str) -> None:
    response = _post(gw, token, _data(gw, rate_tph=-5.0, bogus=1.0))
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:loopmeter:problem:contract"
    assert problem["reason"] == "out_of_range"  # the first problem names the reason
    assert {e["path"] for e in problem["errors"]} == {"samples[0].values.rate_tph",
                                                       "samples[0].values.bogus"}
    assert gw.publisher.published == []


def test_garbage_is_invalid_json(gw: Harness, token: str) -> None:
    response = _post(gw, token, b"not json")
    assert response.status_code == 422 and response.json()["reason"] == "invalid_json"


def test_oversized_body_is_413(gw: Harness, token: str) -> None:
    response = _post(gw, token, b" " * (1_048_576 + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_device_type_must_match_the_registration(gw: Harness, token: str) -> None:
    body = json.dumps({"v": 1, "device_type": "gas_meter", "seq": 1, "samples": [
        {"ts": gw.clock.now, "values": {"gas_nm3": 1.0}}]}).encode()
    response = _post(gw, token, body)
    assert response.status_code == 422 and "belt_scale" in response.json()["detail"]


def test_token_of_another_device_or_an_api_token_is_refused(gw: Harness, token: str) -> None:
    other = gw.client.post("/v1/devices", json={**DEVICE, "device": "d2"},
                           headers=gw.auth(Role.OPERATOR)).json()["ingest_token"]
    assert _post(gw, other, _data(gw)).status_code == 401
    assert _post(gw, gw.tokens[Role.ADMIN], _data(gw)).status_code == 401
    assert gw.client.post(URL, content=_data(gw)).status_code == 401
    assert _post(gw, token, _data(gw), "/v1/devices/zz.l1.d9/data").status_code == 401
    assert gw.publisher.published == []


def test_revoked_device_cannot_ingest(gw: Harness, token: str) -> None:
    gw.client.delete("/v1/devices/zz.l1.d1", headers=gw.auth(Role.OPERATOR))
    assert _post(gw, token, _data(gw)).status_code == 401


def test_broker_outage_is_503_and_counted(gw: Harness, token: str) -> None:
    gw.publisher.down = True
    assert _post(gw, token, _data(gw)).status_code == 503
    gw.publisher.down = False
    assert _post(gw, token, _data(gw, seq=8)).status_code == 202
    metrics = gw.client.get("/metrics", headers=gw.auth(Role.OPERATOR)).text
    assert 'loopmeter_gateway_ingest_messages_total{outcome="accepted"} 1.0' in metrics


@pytest.mark.parametrize(("change", "reason"), [
    ({"v": True}, "unknown_version"), ({"v": 1.0}, "unknown_version"),
    ({"historical": "yes"}, "schema"), ({"seq": 1.0}, "schema"), ({"seq": True}, "schema"),
    ({"seq": 2**63}, "schema")])
def test_strict_types_hold_over_http_too(gw: Harness, token: str, change: dict[str, object],
                                          reason: str) -> None:
    body = {**json.loads(_data(gw)), **change}
    response = _post(gw, token, json.dumps(body).encode())
    assert response.status_code == 422 and response.json()["reason"] == reason
    assert gw.publisher.published == []


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"1e400", b"1" + b"0" * 400])
def test_numbers_beyond_a_float_are_422(gw: Harness, token: str, literal: bytes) -> None:
    body = _data(gw).replace(b"12.5", literal)
    response = _post(gw, token, body)
    assert response.status_code == 422 and response.json()["reason"] == "out_of_range"


def test_the_seq_pair_that_crashed_ingest_is_accepted_and_harmless_here(gw: Harness,
                                                                        token: str) -> None:
    assert _post(gw, token, _data(gw, seq=0)).status_code == 202
    assert _post(gw, token, _data(gw, seq=2**50)).status_code == 202


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["v", "seq", "samples", "ts", "values", "device_type", "x_a"]), inner,
        max_size=4), max_leaves=12).map(lambda value: json.dumps(value).encode()))
def test_no_body_is_a_server_error(gw: Harness, token: str, body: bytes) -> None:
    response = _post(gw, token, body)
    assert response.status_code in (202, 422), response.text
