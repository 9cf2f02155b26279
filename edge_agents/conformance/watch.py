"""Record one device's MQTT traffic for the conformance checks (the only I/O of the kit).

Subscribes with QoS 1 and MQTT 5 "retain as published", so the recorded QoS is the one the
device published with (a subscription grants at most what was published) and the retain
flag is the device's own. paho's failures become `adapters.mqtt` errors.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from adapters.clock import Clock
from adapters.mqtt import ConnectFailed, MqttSettings, Session, connect, new_client
from contract import DeviceId
from edge_agents.conformance.clauses import Observation

SUBSCRIBE_TIMEOUT_S = 10.0


class Watcher:
    """Records everything under the device's topic prefix while it runs."""

    def __init__(self, settings: MqttSettings, device: DeviceId, clock: Clock) -> None:
        self._clock = clock
        self._filter = f"{device.prefix}/#"
        self._lock = threading.Lock()
        self._observations: list[Observation] = []
        self._subscribed = threading.Event()
        self._settings = settings
        self._session = Session(f"lm-conformance-{uuid.uuid4().hex[:8]}")
        self._client = new_client(settings, self._session)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def start(self) -> None:
        connect(self._client, self._settings, self._session)
        self._client.loop_start()
        if not self._subscribed.wait(SUBSCRIBE_TIMEOUT_S):
            self.stop()
            raise ConnectFailed(f"no subscription to {self._filter} on {self._settings.url} "
                                f"within {SUBSCRIBE_TIMEOUT_S:g} s")

    def seen(self) -> list[Observation]:
        """What was recorded so far."""
        with self._lock:
            return list(self._observations)

    def stop(self) -> list[Observation]:
        self._client.disconnect()
        self._client.loop_stop()
        return self.seen()

    def _on_connect(self, client: Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Any) -> None:
        options = SubscribeOptions(qos=1, retainAsPublished=True)
        client.subscribe(self._filter, options=options)

    def _on_subscribe(self, client: Client, userdata: Any, mid: int,
                      reasons: list[ReasonCode], properties: Any) -> None:
        if reasons and not reasons[0].is_failure:
            self._subscribed.set()

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        observation = Observation(message.topic, bytes(message.payload), message.qos,
                                  bool(message.retain), self._clock.now_ms())
        with self._lock:
            self._observations.append(observation)


def watch(settings: MqttSettings, device: DeviceId, duration_s: float,
          clock: Clock) -> list[Observation]:
    """Everything the device published in the next `duration_s` (plus its retained birth)."""
    watcher = Watcher(settings, device, clock)
    watcher.start()
    clock.sleep(duration_s)
    return watcher.stop()
