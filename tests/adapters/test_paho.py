"""`adapters.mqtt.Connection`: paho's callbacks as Loopmeter events, paho's failures as errors.

Against the real Mosquitto of `tests.servers`; every test uses its own topic and client ids.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pydantic import SecretStr

from adapters import mqtt
from adapters.mqtt import ConnectFailed, MqttSettings, Session
from loopmeter.services import LocalServices, free_ports
from tests.servers import DYNSEC_INGEST
from tests.support.live import wait_for

TIMEOUT_S = 20.0


class Recorder:
    """Collects a connection's events from whichever thread delivers them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[mqtt.MqttEvent] = []

    def __call__(self, event: mqtt.MqttEvent) -> None:
        with self._lock:
            self._events.append(event)

    def of(self, kind: type[mqtt.MqttEvent]) -> list[mqtt.MqttEvent]:
        with self._lock:
            return [event for event in self._events if isinstance(event, kind)]

    def wait(self, kind: type[mqtt.MqttEvent], count: int = 1) -> list[mqtt.MqttEvent]:
        wait_for(lambda: len(self.of(kind)) >= count, TIMEOUT_S, f"{count} {kind.__name__}")
        return self.of(kind)


def _session(name: str) -> Session:
    return Session(f"test-{name}-{uuid.uuid4().hex[:8]}")


def _topic() -> str:
    return f"test/paho/{uuid.uuid4().hex[:12]}"


@contextmanager
def _running(settings: MqttSettings, name: str) -> Iterator[tuple[mqtt.Connection, Recorder]]:
    """A connection on paho's thread, connected (its `Connected` event seen)."""
    events = Recorder()
    connection = mqtt.Connection(settings, _session(name), events)
    connection.connect()
    connection.start()
    try:
        events.wait(mqtt.Connected)
        yield connection, events
    finally:
        connection.stop()


@pytest.mark.integration
def test_subscribe_publish_and_receive_as_events(services: LocalServices) -> None:
    settings, topic = MqttSettings(url=services.mqtt_url), _topic()
    with _running(settings, "sub") as (subscriber, heard), \
            _running(settings, "pub") as (publisher, answers):
        assert heard.of(mqtt.Connected) == [mqtt.Connected(session_present=False)]
        mid = subscriber.subscribe(f"{topic}/#", qos=1)
        assert heard.wait(mqtt.Subscribed) == [mqtt.Subscribed(mid, (1,))]

        delivery = publisher.publish(f"{topic}/a", b"payload", qos=1)
        assert delivery.wait(TIMEOUT_S) and delivery.reason_code == 0
        [published] = answers.wait(mqtt.Published)
        assert published == mqtt.Published(delivery.mid, 0) and published.accepted
        assert heard.wait(mqtt.Message) == [mqtt.Message(f"{topic}/a", b"payload", 1, False)]


@pytest.mark.integration
def test_retained_messages_arrive_flagged_to_later_subscribers(services: LocalServices) -> None:
    settings, topic = MqttSettings(url=services.mqtt_url), _topic()
    with _running(settings, "pub") as (publisher, _):
        assert publisher.publish(topic, b"birth", retain=True).wait(TIMEOUT_S)
        with _running(settings, "late") as (late, heard):
            late.subscribe(topic, qos=1, retain_as_published=True)
            assert heard.wait(mqtt.Message) == [mqtt.Message(topic, b"birth", 1, True)]
        publisher.publish(topic, b"", retain=True).wait(TIMEOUT_S)  # clear it


@pytest.mark.integration
def test_a_message_published_before_connecting_goes_out_once_connected(
        services: LocalServices) -> None:
    settings, topic = MqttSettings(url=services.mqtt_url), _topic()
    connection = mqtt.Connection(settings, _session("early"), Recorder())
    with pytest.raises(mqtt.PublishFailed, match="MQTT_ERR_NO_CONN"):
        connection.publish(topic, b"refused")
    delivery = connection.publish(topic, b"kept", while_offline=True)
    connection.connect()
    connection.start()
    try:
        assert delivery.wait(TIMEOUT_S)
    finally:
        connection.stop()


@pytest.mark.integration
def test_a_session_taken_over_is_reported_and_ends_the_polled_loop(
        services: LocalServices) -> None:
    settings, session = MqttSettings(url=services.mqtt_url), _session("twin")
    events = Recorder()
    polled = mqtt.Connection(settings, session, events)
    polled.connect()
    wait_for(lambda: _loop_once(polled) and bool(events.of(mqtt.Connected)), TIMEOUT_S,
             "the polled connection's CONNACK")
    twin = mqtt.Connection(settings, session, Recorder())
    twin.connect()
    twin.start()
    try:
        wait_for(lambda: not _loop_once(polled), TIMEOUT_S, "the polled loop to end")
        [gone] = events.of(mqtt.Disconnected)
        assert isinstance(gone, mqtt.Disconnected) and gone.reason
    finally:
        twin.stop()


def _loop_once(connection: mqtt.Connection) -> bool:
    """Run the loop once with a short wait; False once the connection is lost."""
    try:
        connection.loop(0.05)
    except mqtt.ConnectionLost:
        return False
    return True


@pytest.mark.integration
def test_a_refused_login_is_an_event_with_the_reason(dynsec_services: LocalServices) -> None:
    settings = MqttSettings(url=dynsec_services.mqtt_url, username=DYNSEC_INGEST.username,
                            password=SecretStr("not-the-password"))
    events = Recorder()
    connection = mqtt.Connection(settings, _session("refused"), events)
    connection.connect()
    connection.start()
    try:
        [refused] = events.wait(mqtt.ConnectRefused)
        assert isinstance(refused, mqtt.ConnectRefused)
        assert "password" in refused.reason.lower() or "authori" in refused.reason.lower()
        assert events.of(mqtt.Connected) == []
    finally:
        connection.stop()


@pytest.mark.integration
def test_a_publish_the_broker_refuses_is_answered_with_its_reason_code(
        dynsec_services: LocalServices) -> None:
    settings = MqttSettings(url=dynsec_services.mqtt_url, username=DYNSEC_INGEST.username,
                            password=SecretStr(DYNSEC_INGEST.secret()))
    with _running(settings, "ingest") as (connection, events):
        delivery = connection.publish(f"{_topic()}/not-ingests", b"x")
        assert delivery.wait(TIMEOUT_S)
        [published] = events.wait(mqtt.Published)
        assert delivery.reason_code == 0x87 and published == mqtt.Published(delivery.mid, 0x87)
        assert not published.accepted


def test_no_broker_listening_is_connect_failed() -> None:
    [port] = free_ports(1)
    connection = mqtt.Connection(MqttSettings(url=f"mqtt://127.0.0.1:{port}"),
                                 _session("nobody"), Recorder())
    with pytest.raises(ConnectFailed, match=f"127.0.0.1:{port}"):
        connection.connect()


@pytest.mark.parametrize(("code", "accepted"), [(0x00, True), (0x10, True), (0x80, False),
                                                (0x87, False), (0x97, False)])
def test_a_puback_reason_code_of_0x80_or_more_is_a_refusal(code: int, accepted: bool) -> None:
    assert mqtt.Published(1, code).accepted is accepted


@pytest.mark.parametrize(("granted", "accepted"), [((1,), True), ((0, 1), True), ((), False),
                                                   ((None,), False), ((1, None), False)])
def test_a_suback_is_accepted_only_if_every_filter_was_granted(
        granted: tuple[int | None, ...], accepted: bool) -> None:
    assert mqtt.Subscribed(1, granted).accepted is accepted
