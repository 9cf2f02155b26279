"""A paho client for integration tests: connect as a device, publish, see reason codes."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr

from adapters.mqtt import MqttSettings, Session, connect, new_client

TIMEOUT_S = 10.0


class Probe:
    """One MQTT 5 session; every wait is bounded and fails the test when it runs out."""

    def __init__(self, url: str, username: str, password: str, client_id: str | None = None,
                 *, clean_start: bool = True) -> None:
        settings = MqttSettings(url=url, username=username, password=SecretStr(password))
        self._session = Session(client_id or f"probe-{uuid.uuid4().hex[:8]}",
                                clean_start=clean_start, expiry_s=0 if clean_start else 600)
        self.client: Client = new_client(settings, self._session)
        self._settings = settings
        self.connack: ReasonCode | None = None
        self.disconnected = threading.Event()
        self._connacked = threading.Event()
        self._acks: dict[int, int] = {}
        self._acked = threading.Condition()
        self.messages: list[MQTTMessage] = []
        self._received = threading.Condition()
        self._subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.granted: list[int] = []
        self.client.on_subscribe = self._on_subscribe

    def __enter__(self) -> Probe:
        connect(self.client, self._settings, self._session)
        self.client.loop_start()
        assert self._connacked.wait(TIMEOUT_S), "no CONNACK"
        return self

    def __exit__(self, *_: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish at QoS 1; the PUBACK's reason code (0 = success, 0x87 = not authorized)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._acked:
            assert self._acked.wait_for(lambda: info.mid in self._acks, TIMEOUT_S), "no PUBACK"
            return self._acks.pop(info.mid)

    def subscribe(self, topic_filter: str) -> int:
        """Subscribe at QoS 1; the SUBACK's reason code (1 = granted, 0x87 = not authorized)."""
        self._subscribed.clear()
        self.client.subscribe(topic_filter, qos=1)
        assert self._subscribed.wait(TIMEOUT_S), "no SUBACK"
        return self.granted[-1]

    def _on_subscribe(self, _c: Client, _u: Any, _mid: int, reasons: list[ReasonCode],
                      _p: Properties | None) -> None:
        self.granted.extend(reason.value for reason in reasons)
        self._subscribed.set()

    def next_message(self) -> MQTTMessage:
        with self._received:
            assert self._received.wait_for(lambda: self.messages, TIMEOUT_S), "no message"
            return self.messages.pop(0)

    def _on_connect(self, _c: Client, _u: Any, _f: ConnectFlags, reason: ReasonCode,
                    _p: Properties | None) -> None:
        self.connack = reason
        self._connacked.set()

    def _on_disconnect(self, _c: Client, _u: Any, _f: DisconnectFlags, reason: ReasonCode,
                       _p: Properties | None) -> None:
        if self.connack is None:
            self.connack = reason
            self._connacked.set()
        self.disconnected.set()

    def _on_publish(self, _c: Client, _u: Any, mid: int, reason: ReasonCode,
                    _p: Properties | None) -> None:
        with self._acked:
            self._acks[mid] = reason.value
            self._acked.notify_all()

    def _on_message(self, _c: Client, _u: Any, message: MQTTMessage) -> None:
        with self._received:
            self.messages.append(message)
            self._received.notify_all()
