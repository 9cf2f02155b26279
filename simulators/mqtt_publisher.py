"""The MQTT adapter of `PlantFeed`: QoS 1 publishing with a bounded number of unacknowledged
messages, on `adapters.mqtt.Connection` (which translates paho's failures).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from types import TracebackType

from adapters import mqtt
from adapters.mqtt import ConnectFailed, Connection, Delivery, MqttError, MqttSettings, Session

MAX_UNACKED = 1000
ACK_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0


class MqttPublisher:
    """Publishes with QoS 1; blocks on the oldest message when `max_unacked` are in flight."""

    def __init__(self, settings: MqttSettings, max_unacked: int = MAX_UNACKED) -> None:
        self._settings = settings
        self._connection = Connection(
            settings, Session(f"loopmeter-sim-{uuid.uuid4().hex[:8]}"), self._on_event)
        self._unacked: deque[Delivery] = deque()
        self._max_unacked = max_unacked
        self.published = 0
        self._refusal: str | None = "no answer"
        self._answered = threading.Event()

    def __enter__(self) -> MqttPublisher:
        self._connection.connect()
        self._connection.start()
        if not self._answered.wait(CONNECT_TIMEOUT_S) or self._refusal is not None:
            self._connection.stop()
            raise ConnectFailed(f"the broker at {self._settings.url} did not accept the "
                                f"connection ({self._refusal})")
        return self

    def _on_event(self, event: mqtt.MqttEvent) -> None:
        if isinstance(event, mqtt.Connected | mqtt.ConnectRefused):
            self._refusal = event.reason if isinstance(event, mqtt.ConnectRefused) else None
            self._answered.set()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                self.drain()
        finally:
            self._connection.stop()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        while len(self._unacked) >= self._max_unacked:
            self._wait(self._unacked.popleft())
        # Publishing before the broker's CONNACK queues the message in paho; it goes out on
        # connect.
        self._unacked.append(self._connection.publish(topic, payload, retain=retain,
                                                      while_offline=True))
        self.published += 1

    def drain(self) -> None:
        """Wait until the broker has acknowledged everything published."""
        while self._unacked:
            self._wait(self._unacked.popleft())

    def _wait(self, delivery: Delivery) -> None:
        if not delivery.wait(ACK_TIMEOUT_S):
            raise MqttError(f"no acknowledgement from the broker within {ACK_TIMEOUT_S:.0f} s")
