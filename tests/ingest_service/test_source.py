"""The MQTT source against the real broker: acknowledgement, keep-alive, logins, refusals."""

from __future__ import annotations

import logging
import queue
import time
import uuid

import pytest
from pydantic import SecretStr

from adapters.clock import SystemClock
from adapters.mqtt import MqttSettings, Session, wire
from contract import PREFIX, DeviceId, decode_ack
from ingest_service.pipeline import Delivery, Inbound
from ingest_service.source import MAX_PACKET_BYTES, MqttSource
from loopmeter.services import LocalServices
from tests.ingest_service.support import Publisher, assert_nothing_held, take_inbound, wait_for
from tests.servers import DYNSEC_INGEST
from tests.support.live import recording

pytestmark = pytest.mark.integration


def _source(settings: MqttSettings, client_id: str, topic_filter: str,
            inbox: queue.Queue[list[Inbound]]) -> MqttSource:
    session = Session(client_id, clean_start=False, expiry_s=300, receive_maximum=100,
                      manual_ack=True)
    return MqttSource(settings, session, topic_filter, SystemClock(), inbox)


def test_acknowledged_messages_are_not_delivered_again_and_the_rest_are(
        services: LocalServices, topic_prefix: str) -> None:
    settings, client_id = MqttSettings(url=services.mqtt_url), f"src-{uuid.uuid4().hex[:8]}"
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    source = _source(settings, client_id, f"{topic_prefix}/#", inbox)
    source.start()
    with Publisher(services.mqtt_url) as publisher:
        for i in range(10):
            publisher.publish(f"{topic_prefix}/l1/m1/data", f"{i}".encode())
        publisher.wait_published()
    first = take_inbound(inbox, 10)
    assert [m.payload for m in first] == [f"{i}".encode() for i in range(10)]
    source.ack([m.delivery for m in first[:6]])
    source.stop()

    again = _source(settings, client_id, f"{topic_prefix}/#", inbox)
    again.start()
    try:
        redelivered = take_inbound(inbox, 4)
        assert [m.payload for m in redelivered] == [b"6", b"7", b"8", b"9"]
        again.ack([m.delivery for m in redelivered])
        assert_nothing_held(inbox, services.mqtt_url, f"{topic_prefix}/l1/m1/data")
    finally:
        again.stop()


def test_the_mqtt5_decoder_receives_and_acknowledges_like_the_hand_written_one(
        services: LocalServices, topic_prefix: str) -> None:
    settings, client_id = MqttSettings(url=services.mqtt_url), f"m5-{uuid.uuid4().hex[:8]}"
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    session = Session(client_id, clean_start=False, expiry_s=300, receive_maximum=100,
                      manual_ack=True)

    def source() -> MqttSource:
        return MqttSource(settings, session, f"{topic_prefix}/#", SystemClock(), inbox,
                          codec="mqtt5")

    first = source()
    first.start()
    wait_for(lambda: first.subscribed, 10, "the subscription")  # SUBACK read by mqtt5
    with Publisher(services.mqtt_url) as publisher:
        for i in range(90):  # fewer than the receive maximum; remaining lengths of 1 and 2 bytes
            publisher.publish(f"{topic_prefix}/l1/m{i % 3}/data", b"x" * 3 * i)
        publisher.wait_published()
    received = take_inbound(inbox, 90)
    assert sorted(len(m.payload) for m in received) == list(range(0, 270, 3))
    assert all(m.delivery.qos == 1 and m.delivery.mid for m in received)
    first.ack([m.delivery for m in received])
    first.stop()  # after the barrier's UNSUBACK: the broker has every PUBACK

    again = source()
    again.start()
    try:
        assert_nothing_held(inbox, services.mqtt_url, f"{topic_prefix}/l1/m0/data")
        assert again.subscribed and again.connections == 1
    finally:
        again.stop()


def test_an_idle_connection_is_kept_alive_past_one_and_a_half_keepalives(
        services: LocalServices, topic_prefix: str) -> None:
    # The broker drops a client silent for 1.5 keep-alives (7.5 s here): PINGREQs must go.
    settings = MqttSettings(url=services.mqtt_url, keepalive_s=5)
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    source = _source(settings, f"idle-{uuid.uuid4().hex[:8]}", f"{topic_prefix}/#", inbox)
    source.start()
    try:
        time.sleep(9)
        with Publisher(services.mqtt_url) as publisher:
            publisher.publish(f"{topic_prefix}/l1/m1/data", b"late")
        assert take_inbound(inbox, 1)[0].payload == b"late"
        assert source.connected and source.connections == 1
    finally:
        source.stop()


def test_a_login_is_sent_and_a_refused_one_is_retried_with_backoff(
        dynsec_services: LocalServices, caplog: pytest.LogCaptureFixture) -> None:
    account = DYNSEC_INGEST
    good = MqttSettings(url=dynsec_services.mqtt_url, username=account.username,
                        password=account.secret())
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    source = _source(good, f"login-{uuid.uuid4().hex[:8]}", "loopmeter/v1/#", inbox)
    source.start(timeout_s=10)
    assert source.connected
    source.stop()

    bad = good.model_copy(update={"password": SecretStr("wrong")})
    caplog.set_level(logging.WARNING, logger="ingest_service.source")
    refused = _source(bad, f"login-{uuid.uuid4().hex[:8]}", "loopmeter/v1/#", inbox)
    refused.start(timeout_s=0.5)
    try:
        wait_for(lambda: sum("refused the connection" in r.message for r in caplog.records) >= 2,
                 10, "a second refusal")
        attempts = sum("refused the connection" in r.message for r in caplog.records)
        assert not refused.connected and attempts <= 3  # backoff 1 s, then 2 s: no busy loop
    finally:
        refused.stop()


def test_a_full_inbox_stops_reading_but_not_the_keep_alive_or_the_acknowledgements(
        services: LocalServices, topic_prefix: str) -> None:
    # Nothing is taken from the inbox for more than 1.5 keep-alives: the broker would drop a
    # silent client at 7.5 s. The source must keep pinging and acknowledging meanwhile.
    settings = MqttSettings(url=services.mqtt_url, keepalive_s=5)
    inbox: queue.Queue[list[Inbound]] = queue.Queue(maxsize=1)
    client_id = f"stall-{uuid.uuid4().hex[:8]}"
    source = _source(settings, client_id, f"{topic_prefix}/#", inbox)
    source.start()
    try:
        with Publisher(services.mqtt_url) as publisher:
            for i in range(40):
                publisher.publish(f"{topic_prefix}/l1/m1/data", f"{i}".encode())
                publisher.wait_published()  # one chunk each, so that the inbox fills
        first = inbox.get(timeout=10)
        source.ack([m.delivery for m in first])  # acknowledged while the source is stalled
        wait_for(lambda: inbox.full(), 10, "the inbox to fill")
        time.sleep(9)  # the stall itself: longer than the broker tolerates silence
        assert source.connected and source.connections == 1
        rest = take_inbound(inbox, 40 - len(first))
        assert [m.payload for m in first + rest] == [f"{i}".encode() for i in range(40)]
        source.ack([m.delivery for m in rest])
    finally:
        source.stop()
    assert source.connections == 1
    again = _source(settings, client_id, f"{topic_prefix}/#", inbox)
    again.start()
    try:  # everything was acknowledged, the stalled part included: nothing comes back
        assert_nothing_held(inbox, services.mqtt_url, f"{topic_prefix}/l1/m1/data")
    finally:
        again.stop()


def test_a_refused_subscription_fails_health_and_is_retried(
        dynsec_services: LocalServices) -> None:
    account = DYNSEC_INGEST
    settings = MqttSettings(url=dynsec_services.mqtt_url, username=account.username,
                            password=account.secret())
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    source = _source(settings, f"refused-{uuid.uuid4().hex[:8]}", "not-loopmeter/#", inbox)
    source.start(timeout_s=10)
    try:
        wait_for(lambda: source.stats.subscribe_refusals >= 2, 15, "a retried subscription")
        assert source.connected and not source.subscribed and not source.stats.subscribed
    finally:
        source.stop()
    granted = _source(settings, f"granted-{uuid.uuid4().hex[:8]}", "loopmeter/v1/#", inbox)
    granted.start(timeout_s=10)
    try:
        wait_for(lambda: granted.subscribed, 10, "the granted subscription")
        assert granted.stats.subscribe_refusals == 0
    finally:
        granted.stop()


def test_a_second_worker_with_the_same_id_is_reported_not_fought(
        services: LocalServices, topic_prefix: str) -> None:
    settings, client_id = MqttSettings(url=services.mqtt_url), f"twin-{uuid.uuid4().hex[:8]}"
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    first = _source(settings, client_id, f"{topic_prefix}/#", inbox)
    first.start()
    second = _source(settings, client_id, f"{topic_prefix}/#", inbox)
    try:
        wait_for(lambda: first.subscribed, 10, "the first worker's subscription")
        second.start()
        wait_for(lambda: first.failure is not None or second.failure is not None, 60,
                 "the taken-over session to be reported")
        stopped, kept = (first, second) if first.failure else (second, first)
        assert "two ingest workers probably share the client id" in (stopped.failure or "")
        connections = kept.connections
        time.sleep(3)  # longer than a reconnect delay: the fight is over
        assert not stopped.connected and kept.connected and kept.failure is None
        assert kept.connections == connections and kept.subscribed
    finally:
        first.stop()
        second.stop()


def test_an_oversized_message_never_reaches_the_source_nor_breaks_its_connection(
        services: LocalServices, topic_prefix: str) -> None:
    """The broker refuses such a message from its publisher (`max_packet_size`, disconnect
    0x95); the source's Maximum Packet Size is the same bound, so none is dropped unseen."""
    settings = MqttSettings(url=services.mqtt_url)
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    source = _source(settings, f"big-{uuid.uuid4().hex[:8]}", f"{topic_prefix}/#", inbox)
    source.start()
    try:
        with Publisher(services.mqtt_url) as oversized:  # the broker refuses it (0x95) too
            oversized.publish(f"{topic_prefix}/l1/m1/data", b"x" * (MAX_PACKET_BYTES + 1))
        with Publisher(services.mqtt_url) as publisher:
            publisher.publish(f"{topic_prefix}/l1/m1/data", b"small")
            publisher.wait_published()
        assert [m.payload for m in take_inbound(inbox, 1)] == [b"small"]
        assert source.connected and source.connections == 1
    finally:
        source.stop()


def test_a_lost_session_is_counted_and_the_subscription_made_again(
        services: LocalServices, topic_prefix: str) -> None:
    settings = MqttSettings(url=services.mqtt_url)
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    session = Session(f"lost-{uuid.uuid4().hex[:8]}", clean_start=False, expiry_s=0,
                      receive_maximum=100, manual_ack=True)  # the broker forgets it at once
    source = MqttSource(settings, session, f"{topic_prefix}/#", SystemClock(), inbox)
    source.start()
    try:
        wait_for(lambda: source.subscribed, 10, "the subscription")
        services.restart_service("mosquitto", kill=True)
        wait_for(lambda: source.connections == 2 and source.subscribed, 30, "the resubscription")
        assert source.stats.sessions_lost == 1
        with Publisher(services.mqtt_url) as publisher:
            publisher.publish(f"{topic_prefix}/l1/m1/data", b"after")
            publisher.wait_published()
        assert take_inbound(inbox, 1)[0].payload == b"after"
    finally:
        source.stop()


def test_confirmations_reach_each_device_on_its_own_topic(
        services: LocalServices, unique_site: str) -> None:
    settings = MqttSettings(url=services.mqtt_url)
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    one, two = DeviceId(unique_site, "l1", "m1"), DeviceId(unique_site, "l1", "m2")
    source = _source(settings, f"conf-{uuid.uuid4().hex[:8]}", f"{PREFIX}/{unique_site}/+/+/+",
                     inbox)
    with recording(services.mqtt_url, one.ack_topic) as recorder:
        source.start()
        try:
            source.confirm({one: [5, 3, 4, 9], two: [1]})
            wait_for(lambda: len(recorder.snapshot()) == 1, 10, "the confirmation")
            wait_for(lambda: source.stats.confirms_published == 2, 10, "both confirmations")
        finally:
            source.stop()
        message = recorder.snapshot()[0]
    assert (message.topic, message.qos) == (one.ack_topic, 1)
    assert decode_ack(message.payload).seqs == [(3, 5), (9, 9)]
    assert inbox.empty()  # ingest does not receive its own confirmations


def test_the_ingest_login_may_publish_confirmations_under_dynamic_security(
        dynsec_services: LocalServices, unique_site: str) -> None:
    account = DYNSEC_INGEST
    settings = MqttSettings(url=dynsec_services.mqtt_url, username=account.username,
                            password=account.secret())
    inbox: queue.Queue[list[Inbound]] = queue.Queue()
    source = _source(settings, f"acl-{uuid.uuid4().hex[:8]}", "loopmeter/v1/#", inbox)
    source.start(timeout_s=10)
    try:
        wait_for(lambda: source.subscribed, 10, "the subscription")
        source.confirm({DeviceId(unique_site, "l1", "m1"): [1, 2]})
        wait_for(lambda: source.stats.confirms_accepted + source.stats.confirms_refused == 1,
                 10, "the broker's answer to the confirmation")
        assert source.stats.confirms_refused == 0
    finally:
        source.stop()


def test_acknowledgements_only_go_to_the_connection_that_delivered_them() -> None:
    source = _source(MqttSettings(url="mqtt://127.0.0.1:1"), "unit", "t/#", queue.Queue())
    try:
        old, live = Delivery(7, 1, connection=1), Delivery(8, 1, connection=2)
        source._live = 0  # between connections: nothing may be queued for the next one
        source.ack([old, live])
        assert source._outgoing == b""
        source._live = 2
        source.ack([old, live, Delivery(9, 0, connection=2)])  # QoS 0 needs none
        assert bytes(source._outgoing) == wire.pubacks([8])
    finally:
        source._close_wake()
