"""`loopmeter ingest dlq list|show|replay` through Typer's runner, and settings from env."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from adapters.mqtt import MqttSettings
from contract import DeviceId, MessageKind
from ingest_service import cli as ingest_cli
from ingest_service.cli import app
from ingest_service.service import IngestService
from ingest_service.settings import IngestSettings
from ingest_service.storage import DeadLetter, DeadLetters, open_database, worker_database
from loopmeter.services import LocalServices, free_ports
from tests.ingest_service.support import data_payload, telemetry_rows
from tests.support.live import wait_for

runner = CliRunner()


def test_settings_come_from_prefixed_nested_environment_variables(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPMETER_INGEST_INFLUX__URL", "http://influx:8086")
    monkeypatch.setenv("LOOPMETER_INGEST_MQTT__URL", "mqtt://broker:1883")
    monkeypatch.setenv("LOOPMETER_INGEST_BATCH__MAX_POINTS", "123")
    monkeypatch.setenv("LOOPMETER_INGEST_WORKER", "3")
    settings = IngestSettings()
    assert (settings.influx.url, settings.mqtt.url, settings.batch.max_points) == (
        "http://influx:8086", "mqtt://broker:1883", 123)
    assert settings.client_id == "loopmeter-ingest-3"
    assert settings.influx.database == "loopmeter"


def _seed(state_dir: Path, site: str) -> dict[str, int]:
    topic = DeviceId(site, "l1", "m0").topic(MessageKind.DATA)
    store = DeadLetters(open_database(worker_database(state_dir, 0)), 100, 1000)
    store.add([
        # Valid today: as if an earlier contract had refused it and has since been fixed.
        DeadLetter(1, topic, "message", "unknown_metric", "was unknown",
                   data_payload(0, 1_700_000_000_000)),
        DeadLetter(2, topic, "message", "invalid_json", "still broken", b"{nope"),
    ])
    return {e.letter.reason: e.id for e in store.entries()}


@pytest.mark.integration
def test_dlq_list_show_and_replay(services, influx_db: str, unique_site: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPMETER_INGEST_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LOOPMETER_INGEST_INFLUX__URL", services.influx_url)
    monkeypatch.setenv("LOOPMETER_INGEST_INFLUX__DATABASE", influx_db)
    ids = _seed(tmp_path, unique_site)

    listing = runner.invoke(app, ["dlq", "list"])
    assert listing.exit_code == 0, listing.output
    assert '"invalid_json": 1' in listing.output and "unknown_metric" in listing.output

    shown = runner.invoke(app, ["dlq", "show", str(ids["invalid_json"])])
    assert json.loads(shown.output)["payload"] == "{nope"
    assert runner.invoke(app, ["dlq", "show", "999"]).exit_code == 1

    replayed = runner.invoke(app, ["dlq", "replay"])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 1, still invalid 1, rejected by InfluxDB 0" in replayed.output
    assert [(d, p) for d, _, p in telemetry_rows(services.influx_url, influx_db,
                                                  unique_site)] == [("m0", 0.0)]
    after = runner.invoke(app, ["dlq", "list"])
    assert "still broken" in after.output and "was unknown" not in after.output


def _healthz(service: IngestService) -> tuple[int, dict[str, object]]:
    assert service.http is not None
    response = httpx.get(f"http://127.0.0.1:{service.http.port}/healthz")
    return response.status_code, response.json()


@pytest.mark.integration
def test_a_broker_that_is_down_is_waited_for_and_healthz_says_not_ready(
        services: LocalServices, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = IngestSettings(mqtt=MqttSettings(url=services.mqtt_url), state_dir=tmp_path,
                              http_port=0, create_database=False)
    with services.stopped("mosquitto"), IngestService(settings) as service:
        status, health = _healthz(service)
        assert (status, health["connected"]) == (503, False)
        assert f"broker {services.mqtt_url} unreachable" in caplog.text
        assert service.failure is None
    # mosquitto runs again; the same service kept trying
    service = IngestService(settings)
    with services.stopped("mosquitto"):
        service.start()
    try:
        wait_for(lambda: _healthz(service)[1]["connected"] is True, 60, "ingest to connect")
        assert _healthz(service)[0] == 200
    finally:
        service.stop()


def test_a_replay_while_influxdb_is_down_removes_nothing_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [port] = free_ports(1)  # nothing listens there
    monkeypatch.setenv("LOOPMETER_INGEST_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LOOPMETER_INGEST_INFLUX__URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("LOOPMETER_INGEST_RETRY__SPOOL_AFTER_S", "0.5")
    _seed(tmp_path, "s1")
    replayed = runner.invoke(app, ["dlq", "replay"])
    assert replayed.exit_code == 3, replayed.output
    assert replayed.output.startswith(f"error: InfluxDB unavailable at http://127.0.0.1:{port}")
    assert "Traceback" not in replayed.output
    assert "stored: 2" in runner.invoke(app, ["dlq", "list"]).output


def test_a_replay_advances_its_progress_once_per_dead_letter_handled() -> None:
    handled: list[int] = []
    counted = ingest_cli._counted([1, 2, 3], lambda: handled.append(len(handled)))
    assert next(counted) == 1 and handled == []  # counted after it is handled, not before
    assert list(counted) == [2, 3] and handled == [0, 1, 2]
