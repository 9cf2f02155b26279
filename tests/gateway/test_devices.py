"""Device registration, listing, rotation and revocation, on the fake broker."""

from __future__ import annotations

import json

import yaml

from contract import DataMessage, Sample, encode
from edge_agents.config import AgentFile
from gateway.core.security import Role, digest
from tests.gateway.conftest import Harness

DEVICE = {"site": "zz", "line": "l1", "device": "d1", "device_type": "belt_scale",
          "metadata": {"vendor": "Acme", "serial": "42"}}


def _register(gw: Harness, role: Role = Role.OPERATOR, **changes: object) -> dict[str, object]:
    response = gw.client.post("/v1/devices", json={**DEVICE, **changes}, headers=gw.auth(role))
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, object] = response.json()
    return body


def test_register_returns_a_one_time_bundle_and_creates_the_broker_login(gw: Harness) -> None:
    bundle = _register(gw)
    assert bundle["username"] == "dev.zz.l1.d1"
    assert bundle["topic_prefix"] == "loopmeter/v1/zz/l1/d1"
    assert bundle["broker_url"] == "mqtt://127.0.0.1:18830"
    assert bundle["ingest_url"] == "https://gw.example/v1/devices/zz.l1.d1/data"
    assert gw.broker.logins["dev.zz.l1.d1"] == (bundle["password"], "loopmeter/v1/zz/l1/d1")
    agent = yaml.safe_load(str(bundle["agent_config"]))
    # With a driver and metrics added, the snippet is a valid edge-agent configuration.
    config = AgentFile.model_validate({**agent, "driver": {"kind": "callable",
                                                           "target": "math:sqrt"},
                                       "metrics": [{"name": "rate_tph"}]})
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == bundle["password"]
    assert config.mqtt.username == bundle["username"]
    assert config.agent.device_id.prefix == bundle["topic_prefix"]
    device = gw.client.get("/v1/devices/zz.l1.d1", headers=gw.auth(Role.ADMIN)).json()
    assert device["status"] == "active" and device["metadata"] == DEVICE["metadata"]
    assert device["owner"] == gw.token_ids[Role.OPERATOR]
    # The secrets are gone after the bundle: only a digest of the ingest token is kept.
    record = gw.registry.device("zz.l1.d1")
    assert record is not None and record.ingest_digest == digest(str(bundle["ingest_token"]))
    assert str(bundle["password"]) not in json.dumps(device)


def test_registering_twice_conflicts_and_a_revoked_id_is_never_reused(gw: Harness) -> None:
    _register(gw)
    again = gw.client.post("/v1/devices", json=DEVICE, headers=gw.auth(Role.ADMIN))
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    gw.client.delete("/v1/devices/zz.l1.d1", headers=gw.auth(Role.ADMIN))
    for role in (Role.ADMIN, Role.OPERATOR, Role.EQUIPMENT_MAKER):
        reused = gw.client.post("/v1/devices", json=DEVICE, headers=gw.auth(role))
        assert reused.status_code == 409, role
        assert "never reused" in reused.json()["detail"]
    assert gw.broker.logins == {}


def test_revoke_deletes_the_login_and_keeps_the_record(gw: Harness) -> None:
    _register(gw)
    revoked = gw.client.delete("/v1/devices/zz.l1.d1", headers=gw.auth(Role.OPERATOR)).json()
    assert revoked["status"] == "revoked" and revoked["revoked_at"] is not None
    assert gw.broker.logins == {}
    listed = gw.client.get("/v1/devices", headers=gw.auth(Role.ADMIN)).json()
    assert listed == []
    listed = gw.client.get("/v1/devices?include_revoked=true", headers=gw.auth(Role.ADMIN))
    assert [d["id"] for d in listed.json()] == ["zz.l1.d1"]
    rotate = gw.client.post("/v1/devices/zz.l1.d1/rotate", headers=gw.auth(Role.ADMIN))
    assert rotate.status_code == 409


def test_rotate_replaces_both_secrets(gw: Harness) -> None:
    first = _register(gw)
    gw.clock.now += 60_000
    second = gw.client.post("/v1/devices/zz.l1.d1/rotate", headers=gw.auth(Role.OPERATOR))
    assert second.status_code == 200 and second.headers["cache-control"] == "no-store"
    rotated = second.json()
    assert rotated["password"] != first["password"]
    assert rotated["ingest_token"] != first["ingest_token"]
    assert gw.broker.logins["dev.zz.l1.d1"][0] == rotated["password"]
    assert rotated["device"]["credentials_issued_at"] > rotated["device"]["created_at"]
    old = gw.client.post("/v1/devices/zz.l1.d1/data", content=b"{}",
                         headers={"Authorization": f"Bearer {first['ingest_token']}"})
    assert old.status_code == 401


def test_equipment_makers_see_and_manage_only_their_own_devices(gw: Harness) -> None:
    _register(gw, Role.EQUIPMENT_MAKER)
    _register(gw, Role.OPERATOR, device="d2")
    other_id, other = gw.new_token(Role.EQUIPMENT_MAKER, "another maker")
    mine = gw.client.get("/v1/devices", headers=gw.auth(Role.EQUIPMENT_MAKER)).json()
    assert [d["id"] for d in mine] == ["zz.l1.d1"]
    assert gw.client.get("/v1/devices", headers=other).json() == []
    for method, path in [("GET", "/v1/devices/zz.l1.d1"), ("DELETE", "/v1/devices/zz.l1.d1"),
                         ("POST", "/v1/devices/zz.l1.d1/rotate")]:
        refused = gw.client.request(method, path, headers=other)
        assert refused.status_code == 403, (method, path)
    assert "dev.zz.l1.d1" in gw.broker.logins
    everything = gw.client.get("/v1/devices", headers=gw.auth(Role.OPERATOR)).json()
    assert [d["id"] for d in everything] == ["zz.l1.d1", "zz.l1.d2"]
    assert other_id not in {d["owner"] for d in everything}


def test_unknown_device_is_404_and_bad_ids_are_422(gw: Harness) -> None:
    missing = gw.client.get("/v1/devices/zz.l1.nope", headers=gw.auth(Role.ADMIN))
    assert missing.status_code == 404 and missing.json()["detail"] == "no device zz.l1.nope"
    bad = gw.client.get("/v1/devices/Not-An-Id", headers=gw.auth(Role.ADMIN))
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


def test_invalid_registration_is_a_validation_problem(gw: Harness) -> None:
    body = {**DEVICE, "site": "Bad Site", "device_type": "toaster", "extra": 1}
    response = gw.client.post("/v1/devices", json=body, headers=gw.auth(Role.ADMIN))
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:loopmeter:problem:validation"
    paths = {error["path"] for error in problem["errors"]}
    assert {"body.site", "body.device_type", "body.extra"} <= paths


def test_broker_failure_is_503_and_registers_nothing(gw: Harness) -> None:
    gw.broker.down = True
    response = gw.client.post("/v1/devices", json=DEVICE, headers=gw.auth(Role.ADMIN))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert gw.registry.device("zz.l1.d1") is None


def test_liveness_is_reported_from_what_the_device_publishes(gw: Harness) -> None:
    _register(gw)
    now = gw.clock.now
    for seq in (0, 1, 4):
        message = DataMessage(device_type="belt_scale", seq=seq,
                              samples=[Sample(ts=now - 1000 + seq, values={"rate_tph": 1.0})])
        gw.liveness.observe("loopmeter/v1/zz/l1/d1/data", encode(message), now)
    status = {"v": 1, "ts": now, "session": 3, "queue_depth": 12, "oldest_queued_ts": now - 90_000,
              "agent_version": "1.0"}
    gw.liveness.observe("loopmeter/v1/zz/l1/d1/status", json.dumps(status).encode(), now)
    device = gw.client.get("/v1/devices/zz.l1.d1", headers=gw.auth(Role.ADMIN)).json()
    assert device["liveness"] == {"online": True, "last_seen": device["liveness"]["last_seen"],
                                  "last_seq": 4, "seq_gaps": 2, "queue_depth": 12,
                                  "backlog_age_s": 90.0}
    gw.clock.now += 181_000
    later = gw.client.get("/v1/devices/zz.l1.d1", headers=gw.auth(Role.ADMIN)).json()
    assert later["liveness"]["online"] is False
