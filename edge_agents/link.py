"""The agent's MQTT port and its paho adapter, driven from the agent's own thread.

`poll()` runs paho's network loop without blocking and returns what happened (connected,
disconnected, acknowledged), so the agent stays single-threaded and testable with a fake.
A fresh paho client is built for every connection: nothing paho buffered for a dead
connection is ever sent on a new one; the agent's store is the only source of retries.
paho's failures are translated to `adapters.mqtt` errors here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from paho.mqtt.client import MQTT_ERR_SUCCESS, Client
from paho.mqtt.reasoncodes import ReasonCode

from adapters.mqtt import ConnectFailed, MqttSettings, Session, Will, connect, new_client

QUOTA_EXCEEDED = 0x97
UNSPECIFIED = 0x80


@dataclass(frozen=True, slots=True)
class Connected:
    accepted: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


@dataclass(frozen=True, slots=True)
class Acked:
    """The broker's PUBACK: `accepted`, or refused for now (`retry`) or for good."""

    mid: int
    accepted: bool
    retry: bool = False


LinkEvent = Connected | Disconnected | Acked


class Link(Protocol):
    def open(self, will: Will) -> None:
        """Start connecting with this last will; raise ConnectFailed if the socket fails."""
        ...

    def close(self) -> None: ...

    def poll(self) -> list[LinkEvent]: ...

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        """Send with QoS 1; the message id, or None if there is no connection."""
        ...


class PahoLink:
    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        self._settings = settings
        self._session = Session(client_id)
        self._client: Client | None = None
        self._events: list[LinkEvent] = []

    def open(self, will: Will) -> None:
        self.close()
        client = new_client(self._settings, self._session, will)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        connect(client, self._settings, self._session)
        self._client = client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop(0)

    def poll(self) -> list[LinkEvent]:
        if self._client is not None:
            rc = self._client.loop(0)
            if rc != MQTT_ERR_SUCCESS and self._client is not None:
                self._lost(f"network loop ended with code {rc}")
        events, self._events = self._events, []
        return events

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        if self._client is None or not self._client.is_connected():
            return None
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != MQTT_ERR_SUCCESS:
            self._lost(f"publish failed with code {info.rc}")
            return None
        return info.mid

    def _lost(self, reason: str) -> None:
        if self._client is not None:
            self._client = None
            self._events.append(Disconnected(reason))

    def _on_connect(self, client: Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Any) -> None:
        self._events.append(Connected(not reason.is_failure, str(reason)))
        if reason.is_failure:
            self._lost(f"broker refused the connection: {reason}")

    def _on_disconnect(self, client: Client, userdata: Any, flags: Any, reason: ReasonCode,
                       properties: Any) -> None:
        if client is self._client:
            self._lost(f"disconnected: {reason}")

    def _on_publish(self, client: Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Any) -> None:
        if client is self._client:
            retry = reason.value in (QUOTA_EXCEEDED, UNSPECIFIED)
            self._events.append(Acked(mid, not reason.is_failure, retry))


__all__ = ["Acked", "ConnectFailed", "Connected", "Disconnected", "Link", "LinkEvent",
           "PahoLink"]
