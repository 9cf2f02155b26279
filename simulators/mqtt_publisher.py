"""The MQTT adapter of `PlantFeed`: QoS 1 publishing with a bounded number of unacknowledged
messages. paho's failures are translated to `adapters.mqtt.MqttError` here and nowhere else.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from types import TracebackType
from typing import Any

from paho.mqtt.client import MQTT_ERR_NO_CONN, MQTT_ERR_SUCCESS, Client, MQTTMessageInfo
from paho.mqtt.reasoncodes import ReasonCode

from adapters.mqtt import ConnectFailed, MqttError, MqttSettings, Session, connect, new_client

MAX_UNACKED = 1000
ACK_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
# Publishing before the broker's CONNACK queues the message in paho; it goes out on connect.
_ACCEPTED = (MQTT_ERR_SUCCESS, MQTT_ERR_NO_CONN)


class MqttPublisher:
    """Publishes with QoS 1; blocks on the oldest message when `max_unacked` are in flight."""

    def __init__(self, settings: MqttSettings, max_unacked: int = MAX_UNACKED) -> None:
        self._settings = settings
        self._session = Session(f"loopmeter-sim-{uuid.uuid4().hex[:8]}")
        self._client = new_client(settings, self._session)
        self._unacked: deque[MQTTMessageInfo] = deque()
        self._max_unacked = max_unacked
        self.published = 0
        self._connack: ReasonCode | None = None
        self._connected = threading.Event()
        self._client.on_connect = self._on_connect

    def __enter__(self) -> MqttPublisher:
        connect(self._client, self._settings, self._session)
        self._client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S) or self._connack is None \
                or self._connack.is_failure:
            self._client.loop_stop()
            raise ConnectFailed(f"the broker at {self._settings.url} did not accept the "
                                f"connection ({self._connack or 'no answer'})")
        return self

    def _on_connect(
        self, client: Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self._connack = reason
        self._connected.set()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                self.drain()
        finally:
            self._client.disconnect()
            self._client.loop_stop()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        while len(self._unacked) >= self._max_unacked:
            self._wait(self._unacked.popleft())
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in _ACCEPTED:
            raise MqttError(f"publish to {topic} failed with code {info.rc}")
        self._unacked.append(info)
        self.published += 1

    def drain(self) -> None:
        """Wait until the broker has acknowledged everything published."""
        while self._unacked:
            self._wait(self._unacked.popleft())

    def _wait(self, info: MQTTMessageInfo) -> None:
        try:
            info.wait_for_publish(ACK_TIMEOUT_S)
        except (RuntimeError, ValueError) as error:
            raise MqttError(f"message not acknowledged: {error}") from error
        if not info.is_published():
            raise MqttError(f"no acknowledgement from the broker within {ACK_TIMEOUT_S:.0f} s")
