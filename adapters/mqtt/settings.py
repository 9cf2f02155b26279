"""How Loopmeter reaches a broker: URL, login, TLS, and the errors every MQTT adapter raises.

No client library here: paho's adapter (`adapters.mqtt.paho`) and ingest's own consumer
(`adapters.mqtt.wire` with `ingest_service.source`) both build on these settings.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator

from adapters import errors
from adapters.local_services import default_mqtt_url


class MqttError(errors.LoopmeterError):
    """Base of every MQTT failure the rest of Loopmeter sees."""


class ConnectFailed(MqttError, errors.Unreachable):
    """The broker could not be reached, or did not let us in."""


class LoginRefused(errors.LoginRefused, ConnectFailed):
    """The broker refused the username or password (CONNACK 0x86 or 0x87)."""


class TlsSettings(BaseModel):
    ca_file: Path | None = Field(None, description="CA bundle that signed the broker's cert.")
    cert_file: Path | None = Field(None, description="Client certificate, for mutual TLS.")
    key_file: Path | None = Field(None, description="Private key of the client certificate.")


class MqttSettings(BaseModel):
    """How to reach the broker; the default matches `loopmeter services up`."""

    url: str = Field(default_factory=default_mqtt_url,
                     description="Broker URL: mqtt://host:port, or mqtts:// for TLS; default: "
                                 "the broker of `loopmeter services up` (port 18830 unless "
                                 "it was given another).")
    username: str | None = Field(None, description="Username, if the broker requires one.")
    password: SecretStr | None = Field(None, description="Password for `username`.")
    keepalive_s: int = Field(30, ge=5, description="Keep-alive interval in seconds.")
    tls: TlsSettings | None = Field(None, description="TLS files; mqtts:// without them uses "
                                                      "the system CA store.")

    @field_validator("url")
    @classmethod
    def _a_broker_url(cls, url: str) -> str:
        parse_broker_url(url)  # refused here, where the option or variable is still named
        return url


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def parse_broker_url(url: str) -> BrokerAddress:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise ValueError(f"{url!r} is not a broker URL like mqtt://host:1883 or mqtts://host:8883")
    tls = parts.scheme in ("mqtts", "ssl")
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls)


BROKER_OPTION_HINT = ("is it running? `loopmeter services up` starts the local broker; for "
                      "another, give --broker")


def check_reachable(settings: MqttSettings, hint: str | None = None,
                    timeout_s: float = 5.0) -> None:
    """Raise ConnectFailed unless something accepts TCP connections at the broker's address:
    before a long run, so that a wrong URL is said at once and not as its consequences."""
    address = parse_broker_url(settings.url)
    try:
        socket.create_connection((address.host, address.port), timeout=timeout_s).close()
    except OSError as error:
        raise ConnectFailed(f"cannot connect to {settings.url}: {error}", hint) from error


def credentials(settings: MqttSettings) -> Credentials | None:
    """The login of every Loopmeter MQTT connection, if the settings name one."""
    if not settings.username:
        return None
    return Credentials(settings.username,
                       settings.password.get_secret_value() if settings.password else None)


def ssl_context(tls: TlsSettings | None) -> ssl.SSLContext:
    """The TLS context of every Loopmeter MQTT connection: paho's and ingest's own."""
    tls = tls or TlsSettings()
    context = ssl.create_default_context(cafile=_path(tls.ca_file))
    if tls.cert_file:
        context.load_cert_chain(str(tls.cert_file), _path(tls.key_file))
    return context


def _path(path: Path | None) -> str | None:
    return str(path) if path else None
