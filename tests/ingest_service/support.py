"""Helpers of the ingest tests: payloads, a QoS 1 publisher, read-back and service settings."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from paho.mqtt.client import Client

from adapters.influx import InfluxQL, InfluxSettings
from adapters.mqtt import MqttSettings, Session, TlsSettings, connect, new_client
from contract import DataMessage, DeviceId, EquipmentType, MessageKind, Sample, encode
from ingest_service.pipeline import Inbound
from ingest_service.settings import BatchSettings, IngestSettings, RetrySettings
from tests.support.live import wait_for

HOUR_MS = 3_600_000


def data_payload(seq: int, first_ts: int, samples: int = 1, period_ms: int = 1000) -> bytes:
    """An electricity-meter data message whose power_kw equals the sample's index."""
    return encode(DataMessage(
        device_type=EquipmentType.ELECTRICITY_METER, seq=seq,
        samples=[Sample(ts=first_ts + i * period_ms,
                        values={"power_kw": float(seq * samples + i), "energy_kwh": 1.0 + i})
                 for i in range(samples)]))


def stream(site: str, devices: int, messages: int, samples: int = 1,
           base_ms: int | None = None) -> Iterator[tuple[str, bytes]]:
    """`messages` data messages per device, interleaved, every sample a distinct timestamp."""
    base = base_ms if base_ms is not None else int(time.time() * 1000) - HOUR_MS
    for seq in range(messages):
        for d in range(devices):
            topic = DeviceId(site, "l1", f"m{d}").topic(MessageKind.DATA)
            yield topic, data_payload(seq, base + seq * samples * 1000, samples)


def ingest_settings(services: Any, database: str, state_dir: Path,
                    **changes: Any) -> IngestSettings:
    """Settings for one test: its database, its state folder, a group of its own."""
    values: dict[str, Any] = {
        "mqtt": MqttSettings(url=services.mqtt_url),
        "influx": InfluxSettings(url=services.influx_url, database=database, timeout_s=5),
        "group": f"g{uuid.uuid4().hex[:8]}", "state_dir": state_dir, "http_port": None,
        "batch": BatchSettings(max_delay_s=0.1), "quality_interval_s": 1.0,
        "retry": RetrySettings(initial_backoff_s=0.1, max_backoff_s=1.0, spool_after_s=1.0),
    }
    values.update(changes)
    return IngestSettings(**values)


class Publisher:
    """A QoS 1 publisher on a persistent session, so that a broker restart loses nothing."""

    def __init__(self, mqtt_url: str, tls: TlsSettings | None = None) -> None:
        self._settings = MqttSettings(url=mqtt_url, tls=tls)
        self._session = Session(f"pub-{uuid.uuid4().hex[:8]}", clean_start=False, expiry_s=300)
        self.client: Client = new_client(self._settings, self._session)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self._connected = threading.Event()
        self.connections = 0
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.published = 0
        self.acknowledged = 0

    def __enter__(self) -> Publisher:
        connect(self.client, self._settings, self._session)
        self.client.loop_start()
        assert self._connected.wait(10), "publisher did not connect"
        return self

    def __exit__(self, *_: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, *_: object) -> None:
        self.connections += 1
        self._connected.set()

    def wait_reconnected(self, connections: int, timeout_s: float = 20.0) -> None:
        """Wait until the publisher has connected more than `connections` times."""
        wait_for(lambda: self.connections > connections, timeout_s, "the publisher to reconnect")

    def _on_publish(self, *_: object) -> None:
        self.acknowledged += 1

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1; while disconnected, paho keeps the message and sends it later."""
        self.client.publish(topic, payload, qos=1)
        self.published += 1

    def publish_all(self, messages: Iterator[tuple[str, bytes]] | list[tuple[str, bytes]],
                    between: Callable[[int], None] | None = None) -> int:
        count = 0
        for topic, payload in messages:
            self.publish(topic, payload)
            count += 1
            if between:
                between(count)
        return count

    def wait_published(self, timeout_s: float = 60.0) -> None:
        """Wait until the broker has acknowledged every message published."""
        wait_for(lambda: self.acknowledged >= self.published, timeout_s, "PUBACKs")


def telemetry_rows(influx_url: str, database: str, site: str) -> list[tuple[str, int, float]]:
    """(device, time, power_kw) of every telemetry point of one site."""
    reader = InfluxQL(InfluxSettings(url=influx_url, database=database))
    try:
        series = reader.query('SELECT "power_kw" FROM "telemetry" WHERE "site" = $site '
                              'GROUP BY "device"', {"site": site})
    finally:
        reader.close()
    return [(s.tags["device"], row[0], row[1]) for s in series for row in s.values]


def take_inbound(inbox: queue.Queue[list[Inbound]], count: int) -> list[Inbound]:
    """The next `count` messages an MqttSource queued, in order (it queues lists)."""
    taken: list[Inbound] = []
    while len(taken) < count:
        taken += inbox.get(timeout=10)
    assert len(taken) == count
    return taken


def assert_nothing_held(inbox: queue.Queue[list[Inbound]], mqtt_url: str, topic: str,
                        tls: TlsSettings | None = None) -> None:
    """Nothing is on its way to a source that has just (re)connected, without sleeping.

    A broker sends a resumed session what it kept before anything newer, so a marker
    published now must be the next message the source queues.
    """
    with Publisher(mqtt_url, tls) as publisher:
        publisher.publish(topic, b"marker")
        publisher.wait_published()
    assert [m.payload for m in take_inbound(inbox, 1)] == [b"marker"]




class Paced:
    """Publishes a stream from a background thread at `rate_per_s` messages per second."""

    def __init__(self, publisher: Publisher, messages: list[tuple[str, bytes]],
                 rate_per_s: float) -> None:
        self._publisher = publisher
        self._messages = messages
        self._period = 1.0 / rate_per_s
        self.sent = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Paced:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.join()

    def join(self) -> None:
        self._thread.join()
        self._publisher.wait_published()

    def _run(self) -> None:
        start = time.monotonic()
        for index, (topic, payload) in enumerate(self._messages):
            delay = start + index * self._period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._publisher.publish(topic, payload)
            self.sent += 1
