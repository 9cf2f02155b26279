"""Fixtures that run real Mosquitto, InfluxDB 1.6 and nginx on free loopback ports.

Loaded by `tests/conftest.py` as a plugin. The servers start once per session, in a
temporary folder, only if a test asks for them; each test then gets its own database and
site id, so tests never see each other's data.

    def test_x(services, influx_db, topic_prefix): ...
        services.mqtt_url, services.influx_url      # where to connect
        with services.stopped("influxdb"): ...      # an outage, undone even on failure
        services.kill_service("mosquitto"); services.start_service("mosquitto")

A test that stops a service and fails before starting it again does not break the next
one: after every test that used `services` or `dynsec_services`, `up()` restores them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contract.topics import PREFIX
from loopmeter.services import LocalServices, MqttAccount, ServicePorts, free_ports

DYNSEC_ADMIN = MqttAccount("admin", "admin-secret")
DYNSEC_INGEST = MqttAccount("ingest", "ingest-secret")


def _run(local: LocalServices) -> Iterator[LocalServices]:
    try:
        local.up()
        yield local
    finally:
        # Also after a failed `up`, so that a half-started set does not outlive the run.
        local.down()


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    """Mosquitto (anonymous), InfluxDB and its nginx front, for the whole session."""
    ports = ServicePorts(*free_ports(3))
    yield from _run(LocalServices(tmp_path_factory.mktemp("services"), ports))


@pytest.fixture(scope="session")
def dynsec_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    """A second broker alone, with the dynamic-security plugin and no anonymous access.

    Logins: `DYNSEC_ADMIN` (role admin) and `DYNSEC_INGEST` (role service).
    """
    local = LocalServices(
        tmp_path_factory.mktemp("dynsec"), ServicePorts(*free_ports(3)), auth="dynsec",
        admin=DYNSEC_ADMIN, accounts=[DYNSEC_INGEST], services=["mosquitto"],
    )
    yield from _run(local)


@pytest.fixture(autouse=True)
def _restore_services(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the servers, start again whatever it left stopped."""
    used = [request.getfixturevalue(name) for name in ("services", "dynsec_services")
            if name in request.fixturenames]
    yield
    for local in used:
        local.up()


def influx_query(services: LocalServices, query: str, *, db: str | None = None,
                 post: bool = False) -> list[dict[str, Any]]:
    """Run InfluxQL through the nginx front; the `results` list, with epoch-ms times.

    Statements that change data (CREATE, DROP, DELETE) must be POSTed.
    """
    params = {"q": query, "epoch": "ms", **({"db": db} if db else {})}
    url = f"{services.influx_url}/query"
    response = httpx.post(url, data=params) if post else httpx.get(url, params=params)
    response.raise_for_status()
    results: list[dict[str, Any]] = response.json()["results"]
    errors = [result["error"] for result in results if "error" in result]
    assert not errors, f"{query!r} failed: {errors}"
    return results


def _database_name(node_name: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", node_name.lower()).strip("_")[:40]
    return f"{stem}_{uuid.uuid4().hex[:6]}"


@pytest.fixture
def influx_db(services: LocalServices, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database named after the test, dropped afterwards."""
    name = _database_name(request.node.name)
    influx_query(services, f'CREATE DATABASE "{name}"', post=True)
    yield name
    # The test may have left InfluxDB stopped; it has to run for the DROP.
    services.up()
    influx_query(services, f'DROP DATABASE "{name}"', post=True)


@pytest.fixture
def unique_site() -> str:
    """A site id no other test uses: `t-` and 8 hex digits."""
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def topic_prefix(unique_site: str) -> str:
    """`loopmeter/v1/<unique_site>`: subscribe to `{topic_prefix}/#` to see only this test."""
    return f"{PREFIX}/{unique_site}"
