"""MQTT adapters: settings shared by every client, paho's clients, and ingest's wire codec."""

from adapters.mqtt.paho import Session, Will, connect, connect_properties, new_client
from adapters.mqtt.settings import (
    BrokerAddress,
    ConnectFailed,
    Credentials,
    MqttError,
    MqttSettings,
    TlsSettings,
    credentials,
    parse_broker_url,
    ssl_context,
)

__all__ = [
    "BrokerAddress",
    "ConnectFailed",
    "Credentials",
    "MqttError",
    "MqttSettings",
    "Session",
    "TlsSettings",
    "Will",
    "connect",
    "connect_properties",
    "credentials",
    "new_client",
    "parse_broker_url",
    "ssl_context",
]
