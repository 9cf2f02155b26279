"""Gateway fixtures: the app on in-memory fakes, and one API token per role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapters.clock import Clock
from adapters.pdf import PdfSettings
from carbon.ledger import Ledger, MemoryStore
from carbon.registry import load_registry
from gateway.context import Adapters
from gateway.core.config import GatewaySettings
from gateway.core.security import Role
from gateway.liveness import LivenessTracker
from gateway.main import create_app
from gateway.registry import Registry, TokenRecord
from gateway.reports import CarbonReports
from gateway.tokens import create_token
from tests.gateway.fakes import FakeBroker, FakePublisher, FakeReader
from tests.support.clock import FakeClock

SITES = Path(__file__).parent / "sites"
"""Site profiles of the tests' sites (the reporting entity printed on reports)."""


@dataclass
class Harness:
    client: TestClient
    registry: Registry
    broker: FakeBroker
    publisher: FakePublisher
    reader: FakeReader
    liveness: LivenessTracker
    clock: FakeClock
    ledger: Ledger
    tokens: dict[Role, str]
    token_ids: dict[Role, str]

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def new_token(self, role: Role, name: str = "another") -> tuple[str, dict[str, str]]:
        record, token = create_token(self.registry, role, name, self.clock)
        return record.id, {"Authorization": f"Bearer {token}"}


def fake_settings(**overrides: object) -> GatewaySettings:
    # registry_path is not opened: the fake adapters hand the app its registry. The fake
    # clock stands still, so the rate limit's burst is what a test may spend in all.
    options: dict[str, object] = {"public_url": "https://gw.example",
                                  "rate_limit_burst": 1_000_000}
    return GatewaySettings(**{**options, **overrides})  # type: ignore[arg-type]


@dataclass
class FakeGateway:
    """An app wired to in-memory fakes (the lifespan is not started yet)."""

    app: FastAPI
    registry: Registry
    broker: FakeBroker
    publisher: FakePublisher
    reader: FakeReader
    liveness: LivenessTracker
    clock: FakeClock
    ledger: Ledger
    records: dict[Role, tuple[TokenRecord, str]]


def fake_gateway(registry_path: Path | str = ":memory:",
                 settings: GatewaySettings | None = None,
                 profiles: Path = SITES) -> FakeGateway:
    clock = FakeClock()
    registry = Registry(registry_path)
    broker, publisher, reader = FakeBroker(), FakePublisher(), FakeReader()
    liveness = LivenessTracker()
    ledger = Ledger(MemoryStore())
    reports = CarbonReports(ledger, load_registry(), ZoneInfo("Asia/Shanghai"), profiles,
                            PdfSettings())

    @contextmanager
    def adapters(_settings: GatewaySettings, _clock: Clock) -> Iterator[Adapters]:
        yield Adapters(registry, broker, publisher, reader, liveness, reports,
                       checks={"registry": registry.ping, "broker": lambda: not broker.down})

    records = {role: create_token(registry, role, role.value, clock) for role in Role}
    app = create_app(settings or fake_settings(), adapters=adapters, clock=clock)
    return FakeGateway(app, registry, broker, publisher, reader, liveness, clock, ledger,
                       records)


@contextmanager
def harness(tmp_path: Path, profiles: Path = SITES) -> Iterator[Harness]:
    fake = fake_gateway(tmp_path / "gateway.sqlite", profiles=profiles)
    with TestClient(fake.app, raise_server_exceptions=False) as client:
        yield Harness(client, fake.registry, fake.broker, fake.publisher, fake.reader,
                      fake.liveness, fake.clock, fake.ledger,
                      {role: token for role, (_, token) in fake.records.items()},
                      {role: record.id for role, (record, _) in fake.records.items()})
    fake.registry.close()


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Harness]:
    with harness(tmp_path) as h:
        yield h
