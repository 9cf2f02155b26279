"""The paho-mqtt adapter: builds paho 2 clients (MQTT 5) from settings and translates failures.

Every component that speaks MQTT through paho (edge agent, gateway, conformance kit,
simulator publisher) builds its client here, so TLS, credentials, sessions and the last will
are configured one way.
"""

from __future__ import annotations

from dataclasses import dataclass

from paho.mqtt.client import Client, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from adapters.mqtt.settings import (
    ConnectFailed,
    MqttSettings,
    credentials,
    parse_broker_url,
    ssl_context,
)


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
