"""The SQLite registry and the token CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from contract import DeviceId, EquipmentType
from gateway.cli import app
from gateway.core.errors import Conflict
from gateway.core.security import Role, digest
from gateway.registry import DeviceRecord, Registry
from gateway.tokens import authenticate, create_token
from tests.support.clock import FakeClock

BASE = DeviceRecord(
    device=DeviceId("zz", "l1", "d1"), device_type=EquipmentType.BELT_SCALE, owner="tok_1",
    mqtt_username="dev.zz.l1.d1", ingest_digest=digest("lmd_x"), created_ms=1,
    credentials_ms=1, metadata={"vendor": "Acme"})


def _device(**changes: Any) -> DeviceRecord:
    return replace(BASE, **changes)


def test_tokens_are_stored_only_as_digests(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    registry = Registry(path)
    record, token = create_token(registry, Role.AUDITOR, "audit office", FakeClock())
    registry.close()
    assert token.encode() not in path.read_bytes()
    assert digest(token).encode() in path.read_bytes()
    reopened = Registry(path)
    assert authenticate(reopened, token) == record
    assert authenticate(reopened, token + "x") is None
    assert authenticate(reopened, "not-a-token") is None


def test_revoked_token_no_longer_authenticates(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "r.sqlite")
    record, token = create_token(registry, Role.ADMIN, "a", FakeClock())
    assert registry.revoke_token(record.id, 5)
    assert not registry.revoke_token(record.id, 6)
    assert authenticate(registry, token) is None
    assert registry.tokens()[0].revoked_ms == 5


def test_device_round_trip_and_conflict(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "r.sqlite")
    registry.add_device(_device())
    assert registry.device("zz.l1.d1") == _device()
    with pytest.raises(Conflict):
        registry.add_device(_device(owner="tok_2"))
    registry.save_device(_device(revoked_ms=9))
    with pytest.raises(Conflict, match="never reused"):  # a revoked id is a tombstone
        registry.add_device(_device(owner="tok_2"))
    assert registry.devices("tok_2") == []
    assert registry.devices("tok_1") == [_device(revoked_ms=9)]


def test_cli_creates_lists_and_revokes_tokens(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cli.sqlite"
    monkeypatch.setenv("LOOPMETER_GATEWAY_REGISTRY_PATH", str(path))
    runner = CliRunner()
    created = runner.invoke(app, ["token", "create", "--role", "operator", "--name", "ops"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    registry = Registry(path)
    principal = authenticate(registry, token)
    assert principal is not None and principal.role is Role.OPERATOR
    listed = runner.invoke(app, ["token", "list"])
    assert principal.id in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout
    assert runner.invoke(app, ["token", "revoke", principal.id]).exit_code == 0
    assert authenticate(registry, token) is None
    assert runner.invoke(app, ["token", "revoke", principal.id]).exit_code == 1
    bad = runner.invoke(app, ["token", "create", "--role", "superuser"])
    assert bad.exit_code != 0


def test_cli_run_serves_the_app_on_the_given_address(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[object, str, int]] = []
    monkeypatch.setattr("gateway.cli.uvicorn.run",
                        lambda app, host, port: served.append((app, host, port)))
    result = CliRunner().invoke(app, ["run", "--port", "9999"])
    assert result.exit_code == 0, result.output
    ((served_app, host, port),) = served
    assert (host, port) == ("127.0.0.1", 9999)
    assert getattr(served_app, "title", None) == "Loopmeter gateway"


def test_the_registry_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "gateway.sqlite"
    with Registry(path) as registry:
        registry.add_device(_device())
    assert path.stat().st_mode & 0o777 == 0o600
