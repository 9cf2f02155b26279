"""The MQTT side: a paho client on a persistent MQTT 5 session with manual acknowledgement.

paho's network thread (loop_start) calls `_on_message`, which only timestamps the message and
puts it on a bounded queue. `ack` may be called from the pipeline thread: paho 2 appends the
PUBACK to its outgoing deque and wakes the network thread through its socket pair.

Stopping waits for a barrier before it disconnects: an UNSUBSCRIBE of a topic nobody uses.
The broker handles a connection's packets in order, so its UNSUBACK proves that it has
processed every PUBACK sent before; closing the socket at once could otherwise reset the
connection (the broker keeps sending) and lose acknowledgements still unread.

Every (re)connection gets a new number. After a reconnect the broker resends, with their
original packet ids, all messages not yet acknowledged, so an acknowledgement due for a message
of an earlier connection is not sent: its redelivery is stored (idempotently) and acknowledged.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.reasoncodes import ReasonCode

from ingest_service.pipeline import Delivery, Inbound
from loopmeter.clock import Clock
from loopmeter.mqtt import MqttSettings, Session, connect, new_client

log = logging.getLogger(__name__)

_BARRIER = "loopmeter/ingest/barrier"


class MqttSource:
    def __init__(self, settings: MqttSettings, session: Session, topic_filter: str,
                 clock: Clock, inbox: queue.Queue[Inbound]) -> None:
        self._settings = settings
        self._session = session
        self._subscription = topic_filter
        self._clock = clock
        self._inbox = inbox
        self._connection = 0
        self._connected = threading.Event()
        self._barrier = threading.Event()
        self._barrier_mid: int | None = None
        self._client: Client = new_client(settings, session)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_unsubscribe = self._on_unsubscribe

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, timeout_s: float = 30.0) -> None:
        """Connect, subscribe and start receiving; raise ConnectFailed if the socket fails."""
        connect(self._client, self._settings, self._session)
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            log.warning("not yet connected to %s; paho keeps trying", self._settings.url)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect once the broker has processed every acknowledgement sent."""
        if self.connected:
            self._barrier.clear()
            _, self._barrier_mid = self._client.unsubscribe(_BARRIER)
            if not self._barrier.wait(timeout_s):
                log.warning("the broker did not confirm the last acknowledgements; their "
                            "messages will be delivered again")
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, delivery: Delivery) -> None:
        if delivery.connection == self._connection and delivery.qos > 0:
            self._client.ack(delivery.mid, delivery.qos)

    def _on_connect(self, client: Client, _userdata: Any, flags: ConnectFlags,
                    reason: ReasonCode, _properties: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self._connection += 1
        log.info("connected to %s as %s (session present: %s)", self._settings.url,
                 self._session.client_id, flags.session_present)
        client.subscribe(self._subscription, qos=1)
        self._connected.set()

    def _on_disconnect(self, _client: Client, _userdata: Any, _flags: DisconnectFlags,
                       reason: ReasonCode, _properties: Any) -> None:
        self._connected.clear()
        (log.warning if reason.is_failure else log.info)("disconnected from the broker: %s",
                                                         reason)

    def _on_unsubscribe(self, _client: Client, _userdata: Any, mid: int, _reasons: Any,
                        _properties: Any) -> None:
        if mid == self._barrier_mid:
            self._barrier.set()

    def _on_message(self, _client: Client, _userdata: Any, message: MQTTMessage) -> None:
        delivery = Delivery(message.mid, message.qos, self._connection)
        self._inbox.put(Inbound(message.topic, bytes(message.payload), self._clock.now_ms(),
                                self._clock.monotonic(), delivery))
