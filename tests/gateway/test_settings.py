"""The gateway's settings: defaults for `loopmeter services up`, env with nested `__`."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbon.settings import CarbonSettings
from gateway.core.config import CarbonReportSettings, GatewaySettings


def test_defaults_match_local_services() -> None:
    settings = GatewaySettings()
    assert settings.mqtt.url == "mqtt://127.0.0.1:18830"
    assert settings.influx.url == "http://127.0.0.1:18086"
    assert settings.influx.database == "loopmeter"
    assert settings.registry_path == Path("var/gateway.sqlite")
    assert settings.broker_url_for_devices == settings.mqtt.url


def test_environment_with_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPMETER_GATEWAY_MQTT__USERNAME", "admin")
    monkeypatch.setenv("LOOPMETER_GATEWAY_MQTT__PASSWORD", "s3cret")
    monkeypatch.setenv("LOOPMETER_GATEWAY_DEVICE_BROKER_URL", "mqtts://broker.example:8883")
    monkeypatch.setenv("LOOPMETER_GATEWAY_CARBON__LEDGER_PATH", "/srv/ledger.sqlite")
    settings = GatewaySettings()
    assert settings.mqtt.username == "admin"
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.broker_url_for_devices == "mqtts://broker.example:8883"
    assert settings.carbon.ledger_path == Path("/srv/ledger.sqlite")


def test_carbon_defaults_follow_the_engine_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPMETER_CARBON_LEDGER_PATH", "/srv/shared-ledger.sqlite")
    assert GatewaySettings().carbon.ledger_path == Path("/srv/shared-ledger.sqlite")


def test_the_carbon_section_names_what_the_engine_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPMETER_CARBON_TIMEZONE", "Europe/Berlin")
    engine, own = CarbonSettings(), GatewaySettings().carbon
    for name in CarbonReportSettings.model_fields:
        assert getattr(own, name) == getattr(engine, name), name
    assert own.zone() == engine.zone()
