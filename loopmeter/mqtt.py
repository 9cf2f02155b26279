"""MQTT adapter: builds paho-mqtt 2 clients (MQTT 5) from settings and translates their failures.

Every component that speaks MQTT (edge agent, ingest, gateway, conformance kit) builds its
client here, so TLS, credentials, sessions and the last will are configured one way.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from paho.mqtt.client import Client, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, Field, SecretStr

from loopmeter.mqtt_wire import Credentials


class MqttError(Exception):
    """Base of every MQTT failure the rest of Loopmeter sees."""


class ConnectFailed(MqttError):
    pass


class TlsSettings(BaseModel):
    ca_file: Path | None = Field(None, description="CA bundle that signed the broker's cert.")
    cert_file: Path | None = Field(None, description="Client certificate, for mutual TLS.")
    key_file: Path | None = Field(None, description="Private key of the client certificate.")


class MqttSettings(BaseModel):
    """How to reach the broker; the default matches `loopmeter services up`."""

    url: str = Field("mqtt://127.0.0.1:18830",
                     description="Broker URL: mqtt://host:port, or mqtts:// for TLS.")
    username: str | None = Field(None, description="Username, if the broker requires one.")
    password: SecretStr | None = Field(None, description="Password for `username`.")
    keepalive_s: int = Field(30, ge=5, description="Keep-alive interval in seconds.")
    tls: TlsSettings | None = Field(None, description="TLS files; mqtts:// without them uses "
                                                      "the system CA store.")


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


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    """MQTT 5 session options of one client."""

    client_id: str
    clean_start: bool = True
    expiry_s: int = 0
    receive_maximum: int | None = None
    manual_ack: bool = False


def new_client(settings: MqttSettings, session: Session, will: Will | None = None) -> Client:
    """A configured, not yet connected paho client."""
    client = Client(CallbackAPIVersion.VERSION2, client_id=session.client_id, protocol=MQTTv5,
                    manual_ack=session.manual_ack)
    if login := credentials(settings):
        client.username_pw_set(login.username, login.password)
    if parse_broker_url(settings.url).tls:
        client.tls_set_context(ssl_context(settings.tls))
    if will:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    return client


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


def connect_properties(session: Session) -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = session.expiry_s
    if session.receive_maximum:
        properties.ReceiveMaximum = session.receive_maximum
    return properties


def connect(client: Client, settings: MqttSettings, session: Session) -> None:
    """Start connecting (the network loop must run); raise ConnectFailed if the socket fails."""
    address = parse_broker_url(settings.url)
    try:
        client.connect(address.host, address.port, keepalive=settings.keepalive_s,
                       clean_start=session.clean_start, properties=connect_properties(session))
    except (OSError, ValueError) as error:
        raise ConnectFailed(f"cannot connect to {settings.url}: {error}") from error
