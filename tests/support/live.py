"""Helpers of tests against the live servers: a recording MQTT subscriber, and waiting."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.reasoncodes import ReasonCode

from adapters.mqtt import MqttSettings, Session, connect, new_client
from loopmeter.services import wait_until


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Recorder:
    """Subscribes with QoS 1 in a persistent session, so a broker restart loses nothing.

    Without a filter it only resumes the session of `client_id`: what the broker kept for it
    arrives, and nothing new is subscribed. It also subscribes to a marker topic of its own,
    which `settled` uses.
    """

    def __init__(self, url: str, topic_filter: str | None, client_id: str | None = None) -> None:
        self.messages: list[Received] = []
        self.client_id = client_id or f"rec-{uuid.uuid4().hex[:8]}"
        self._filter = topic_filter
        self._marker = f"loopmeter-test/marker/{self.client_id}"
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        session = Session(self.client_id, clean_start=False, expiry_s=600)
        self._settings = MqttSettings(url=url)
        self._client = new_client(self._settings, session)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 2)
        connect(self._client, self._settings, session)

    def _on_connect(self, client: Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Any) -> None:
        filters = [(self._marker, 1)] + ([(self._filter, 1)] if self._filter else [])
        client.subscribe(filters)

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, bytes(message.payload), message.qos,
                                          bool(message.retain)))

    def snapshot(self, suffix: str = "") -> list[Received]:
        with self._lock:
            return [m for m in self.messages
                    if m.topic.endswith(suffix) and m.topic != self._marker]

    def settled(self, timeout_s: float = 10.0) -> list[Received]:
        """Everything the broker held for this session when it resumed, without sleeping.

        The broker sends a resumed session what it kept before anything published later,
        so once a marker published now comes back, nothing kept is still on its way.
        """
        marker = uuid.uuid4().bytes
        self._client.publish(self._marker, marker, qos=1)
        wait_for(lambda: any(m.payload == marker for m in self._received(self._marker)),
                 timeout_s, "the recorder's own marker")
        return self.snapshot()

    def _received(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def start(self) -> None:
        self._client.loop_start()
        assert self._subscribed.wait(10), "the recorder could not subscribe"

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def recording(url: str, topic_filter: str | None,
              client_id: str | None = None) -> Iterator[Recorder]:
    recorder = Recorder(url, topic_filter, client_id)
    recorder.start()
    try:
        yield recorder
    finally:
        recorder.stop()


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0,
             what: str | None = None) -> bool:
    """Poll a condition of the real world (a broker delivering), in integration tests only.

    With `what`, a timeout fails the test, naming what did not happen.
    """
    met = wait_until(condition, timeout_s)
    assert met or what is None, f"timed out waiting for {what}"
    return met
