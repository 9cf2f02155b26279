"""Record one device's MQTT traffic for the conformance checks (the only I/O of the kit).

Subscribes with QoS 1 and MQTT 5 "retain as published", so the recorded QoS is the one the
device published with (a subscription grants at most what was published) and the retain
flag is the device's own.
"""

from __future__ import annotations

import threading
import uuid
from contextlib import suppress

from adapters import mqtt
from adapters.clock import Clock
from adapters.mqtt import ConnectFailed, MqttSettings, Session
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
        self._refused: ConnectFailed | None = None
        self._connection = mqtt.Connection(
            settings, Session(f"lm-conformance-{uuid.uuid4().hex[:8]}"), self._on_event)

    def start(self) -> None:
        self._connection.connect()
        self._connection.start()
        if not self._subscribed.wait(SUBSCRIBE_TIMEOUT_S) or self._refused is not None:
            self.stop()
            if self._refused is not None:
                raise self._refused
            raise ConnectFailed(f"no subscription to {self._filter} on "
                                f"{self._connection.settings.url} "
                                f"within {SUBSCRIBE_TIMEOUT_S:g} s")

    def seen(self) -> list[Observation]:
        """What was recorded so far."""
        with self._lock:
            return list(self._observations)

    def stop(self) -> list[Observation]:
        self._connection.stop()
        return self.seen()

    def _on_event(self, event: mqtt.MqttEvent) -> None:
        if isinstance(event, mqtt.Connected):
            # If the connection is lost at once, `start` reports no subscription in time.
            with suppress(mqtt.MqttError):
                self._connection.subscribe(self._filter, qos=1, retain_as_published=True)
        elif isinstance(event, mqtt.ConnectRefused):
            self._refused = event.error(self._connection.settings)
            self._subscribed.set()  # nothing more will come: `start` raises at once
        elif isinstance(event, mqtt.Subscribed) and event.accepted:
            self._subscribed.set()
        elif isinstance(event, mqtt.Message):
            self._record(event)

    def _record(self, message: mqtt.Message) -> None:
        observation = Observation(message.topic, message.payload, message.qos, message.retain,
                                  self._clock.now_ms())
        with self._lock:
            self._observations.append(observation)


def watch(settings: MqttSettings, device: DeviceId, duration_s: float,
          clock: Clock) -> list[Observation]:
    """Everything the device published in the next `duration_s` (plus its retained birth)."""
    watcher = Watcher(settings, device, clock)
    watcher.start()
    clock.sleep(duration_s)
    return watcher.stop()
