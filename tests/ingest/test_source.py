"""The MQTT source against the real broker: acknowledgement, keep-alive, logins, refusals."""

from __future__ import annotations

import logging
import queue
import time
import uuid

import pytest
from pydantic import SecretStr

from adapters.clock import SystemClock
from adapters.mqtt import MqttSettings, Session
from ingest_service.pipeline import Inbound
from ingest_service.source import MqttSource
from loopmeter.services import LocalServices
from tests.ingest.support import Publisher, take_inbound, wait_for
from tests.servers import DYNSEC_INGEST


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
        # Nothing else was held: a message published now is the next to arrive.
        with Publisher(services.mqtt_url) as publisher:
            publisher.publish(f"{topic_prefix}/l1/m1/data", b"marker")
            publisher.wait_published()
        assert [m.payload for m in take_inbound(inbox, 1)] == [b"marker"]
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
