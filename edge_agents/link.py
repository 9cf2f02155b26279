"""The agent's MQTT port and its paho adapter, driven from the agent's own thread.

`poll()` runs paho's network loop without blocking and returns what happened (connected,
disconnected, acknowledged by the broker, subscribed, a message received), so the agent stays
single-threaded and testable with a fake. Opened with a topic to subscribe (the device's
acknowledgement topic), the link subscribes on every connect: the session is not persistent.
A fresh connection is built for every connection attempt: nothing paho buffered for a dead
connection is ever sent on a new one; the agent's store is the only source of retries.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

from adapters import mqtt
from adapters.mqtt import ConnectFailed, MqttSettings, Session, Will

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


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The broker's answer to the subscription asked for at `open`."""

    accepted: bool


@dataclass(frozen=True, slots=True)
class Received:
    """A message on the subscribed topic."""

    topic: str
    payload: bytes


LinkEvent = Connected | Disconnected | Acked | Subscribed | Received


class Link(Protocol):
    def open(self, will: Will, subscribe: str | None = None) -> None:
        """Start connecting with this last will, then subscribe to `subscribe` (QoS 1) if
        given; raise ConnectFailed if the socket fails."""
        ...

    def close(self) -> None: ...

    def poll(self) -> list[LinkEvent]: ...

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        """Send with QoS 1; the message id, or None if there is no connection."""
        ...


class PahoLink:
    """`Link` over one `adapters.mqtt.Connection` at a time, its loop run by `poll()`."""

    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        self._settings = settings
        self._session = Session(client_id)
        self._connection: mqtt.Connection | None = None
        self._inbox: list[mqtt.MqttEvent] = []
        self._events: list[LinkEvent] = []
        self._subscribe: str | None = None

    def open(self, will: Will, subscribe: str | None = None) -> None:
        self.close()
        self._subscribe = subscribe
        # Each connection gets its own inbox: what a closed one still reports is never read.
        inbox: list[mqtt.MqttEvent] = []
        connection = mqtt.Connection(self._settings, self._session, inbox.append, will)
        connection.connect()
        self._connection, self._inbox = connection, inbox

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.disconnect()
            with suppress(mqtt.ConnectionLost):  # closing anyway
                connection.loop(0)

    def poll(self) -> list[LinkEvent]:
        connection = self._connection
        if connection is not None:
            failure: mqtt.ConnectionLost | None = None
            try:
                connection.loop(0)
            except mqtt.ConnectionLost as error:
                failure = error
            self._take_inbox(connection)
            if failure is not None:
                self._lost(str(failure))
        events, self._events = self._events, []
        return events

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        if self._connection is None or not self._connection.is_connected():
            return None
        try:
            return self._connection.publish(topic, payload, retain=retain).mid
        except mqtt.PublishFailed as error:
            self._take_inbox(self._connection)
            self._lost(str(error))
            return None

    def _lost(self, reason: str) -> None:
        if self._connection is not None:
            self._connection = None
            self._events.append(Disconnected(reason))

    def _take_inbox(self, connection: mqtt.Connection) -> None:
        events = list(self._inbox)
        self._inbox.clear()
        for event in events:
            if self._connection is connection:
                self._on_event(event)

    def _on_event(self, event: mqtt.MqttEvent) -> None:
        if isinstance(event, mqtt.Connected):
            self._events.append(Connected(True, "Success"))
            if self._subscribe is not None and self._connection is not None:
                try:
                    self._connection.subscribe(self._subscribe, qos=1)
                except mqtt.MqttError as error:
                    self._lost(str(error))
        elif isinstance(event, mqtt.Subscribed):
            self._events.append(Subscribed(event.accepted))
        elif isinstance(event, mqtt.Message):
            self._events.append(Received(event.topic, event.payload))
        elif isinstance(event, mqtt.ConnectRefused):
            self._events.append(Connected(False, event.reason))
            self._lost(f"broker refused the connection: {event.reason}")
        elif isinstance(event, mqtt.Disconnected):
            self._lost(f"disconnected: {event.reason}")
        elif isinstance(event, mqtt.Published):
            retry = event.reason_code in (QUOTA_EXCEEDED, UNSPECIFIED)
            self._events.append(Acked(event.mid, event.accepted, retry))


__all__ = ["Acked", "ConnectFailed", "Connected", "Disconnected", "Link", "LinkEvent",
           "PahoLink", "Received", "Subscribed"]
