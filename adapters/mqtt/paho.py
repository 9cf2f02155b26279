"""The paho-mqtt adapter: the only module of Loopmeter that imports paho.

`Connection` is one MQTT 5 client built from settings (TLS, login, session, last will). It
reports what paho's callbacks say as Loopmeter events (`Connected`, `ConnectRefused`,
`Disconnected`, `Published`, `Message`, `Subscribed`) through one handler passed to its
constructor, and turns paho's failures into `adapters.mqtt` errors. The handler runs on the
thread that drives the network loop: the caller's in `loop()`, paho's own after `start()`.

`new_client` and `connect` stay for tests and benchmarks that need a bare paho client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paho.mqtt.client import (
    Client,
    ConnectFlags,
    DisconnectFlags,
    MQTTMessage,
    MQTTv5,
    topic_matches_sub,
)
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from adapters.mqtt.settings import (
    ConnectFailed,
    LoginRefused,
    MqttError,
    MqttSettings,
    credentials,
    parse_broker_url,
    ssl_context,
)

FAILURE = 0x80
"""MQTT 5 reason codes from here up are failures."""
_MAX_UNCLAIMED = 1024


class PublishFailed(MqttError):
    """paho did not take the message (not connected, queue full, connection lost)."""


class ConnectionLost(MqttError):
    """The network loop stopped: the connection is gone."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    """MQTT 5 session options of one client."""

    client_id: str
    clean_start: bool = True
    expiry_s: int = 0
    receive_maximum: int | None = None
    manual_ack: bool = False


# ------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted the connection."""

    session_present: bool


@dataclass(frozen=True, slots=True)
class ConnectRefused:
    """The broker answered the CONNECT with a failure reason code."""

    reason: str
    reason_code: int = 0x80

    def error(self, settings: MqttSettings) -> ConnectFailed:
        """The error to raise: LoginRefused for a bad login (CONNACK 0x86, 0x87)."""
        if self.reason_code in _LOGIN_REFUSED:
            user = settings.username or "(no username)"
            return LoginRefused(f"login refused by {settings.url} for {user}: {self.reason}")
        return ConnectFailed(f"{settings.url} refused the connection: {self.reason}")


# CONNACK reason codes of a refused login (MQTT 5, 3.2.2.2): bad user name or password,
# not authorized.
_LOGIN_REFUSED = (0x86, 0x87)


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


@dataclass(frozen=True, slots=True)
class Published:
    """The broker's answer (PUBACK) to the QoS 1 message `mid`."""

    mid: int
    reason_code: int

    @property
    def accepted(self) -> bool:
        return self.reason_code < FAILURE


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The broker's SUBACK: per topic filter, the QoS granted, or None where it was refused."""

    mid: int
    granted: tuple[int | None, ...]

    @property
    def accepted(self) -> bool:
        return bool(self.granted) and None not in self.granted


MqttEvent = Connected | ConnectRefused | Disconnected | Published | Message | Subscribed
EventHandler = Callable[[MqttEvent], None]


class Delivery:
    """A QoS 1 message paho has taken: its id, and the broker's answer once it arrives."""

    def __init__(self, mid: int) -> None:
        self.mid = mid
        self._answered = threading.Event()
        self._reason_code: int | None = None

    def wait(self, timeout_s: float) -> bool:
        """Whether the broker answered (PUBACK, accepting or not) within `timeout_s`."""
        return self._answered.wait(timeout_s)

    @property
    def reason_code(self) -> int | None:
        """The PUBACK's reason code; None until it arrives."""
        return self._reason_code

    def _answer(self, reason_code: int) -> None:
        self._reason_code = reason_code
        self._answered.set()


class Connection:
    """One MQTT 5 connection; its events go to `on_event`.

    Drive it either by calling `loop()` from one thread, or with `start()`/`stop()` on paho's
    background thread (which also reconnects).
    """

    def __init__(self, settings: MqttSettings, session: Session, on_event: EventHandler,
                 will: Will | None = None) -> None:
        self.settings = settings
        self._session = session
        self._on_event = on_event
        self._client = new_client(settings, session, will)
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._client.on_publish = self._published
        self._client.on_message = self._message
        self._client.on_subscribe = self._subscribed
        # Deliveries waiting for their PUBACK, by message id. paho holds the same messages
        # until answered, so this is as bounded as paho's own queue. A PUBACK can arrive
        # before `publish` has filed its delivery: its answer waits in `_unclaimed`.
        self._lock = threading.Lock()
        self._pending: dict[int, Delivery] = {}
        self._unclaimed: dict[int, int] = {}

    def connect(self) -> None:
        """Start connecting (the network loop must run); ConnectFailed if the socket fails."""
        connect(self._client, self.settings, self._session)

    def connect_in_background(self, max_delay_s: int = 30) -> None:
        """Connect from paho's thread (`start()` must follow), retrying until the broker answers.

        Each failed attempt is a `Disconnected` event; the delay between attempts doubles
        from 1 s up to `max_delay_s`.
        """
        address = parse_broker_url(self.settings.url)
        self._client.on_connect_fail = self._connect_failed
        self._client.reconnect_delay_set(1, max_delay_s)
        self._client.connect_async(address.host, address.port,
                                   keepalive=self.settings.keepalive_s,
                                   clean_start=self._session.clean_start,
                                   properties=connect_properties(self._session))

    def loop(self, timeout_s: float = 0.0) -> None:
        """Run the network loop once; ConnectionLost if the connection is gone."""
        rc = self._client.loop(timeout_s)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionLost(f"network loop ended with code {rc}")

    def start(self) -> None:
        """Run the network loop on paho's own thread."""
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and end paho's thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def disconnect(self) -> None:
        self._client.disconnect()

    def is_connected(self) -> bool:
        return bool(self._client.is_connected())

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                while_offline: bool = False) -> Delivery:
        """Hand a message to paho; PublishFailed if it refuses.

        With `while_offline`, a message published before the CONNACK is kept by paho and sent
        once connected, instead of being refused.
        """
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        taken = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
            while_offline and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN)
        if not taken:
            raise PublishFailed(f"publish to {topic} failed with code {info.rc.name}")
        delivery = Delivery(info.mid)
        with self._lock:
            answer = self._unclaimed.pop(info.mid, None)
            if answer is None:
                self._pending[info.mid] = delivery
        if answer is not None:
            delivery._answer(answer)
        return delivery

    def subscribe(self, topic_filter: str, qos: int = 1, *,
                  retain_as_published: bool = False) -> int:
        """Send a SUBSCRIBE; its `Subscribed` event carries the returned message id."""
        options = SubscribeOptions(qos=qos, retainAsPublished=retain_as_published)
        rc, mid = self._client.subscribe(topic_filter, options=options)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttError(f"subscribe to {topic_filter} failed with code {rc.name}")
        return int(mid) if mid is not None else 0

    # -------------------------------------------------------------- paho's callbacks

    def _connected(self, _client: Client, _userdata: Any, flags: ConnectFlags,
                   reason: ReasonCode, _properties: Properties | None) -> None:
        if reason.is_failure:
            self._on_event(ConnectRefused(str(reason), int(reason.value)))
        else:
            self._on_event(Connected(bool(flags.session_present)))

    def _connect_failed(self, _client: Client, _userdata: Any) -> None:
        self._on_event(Disconnected(f"cannot connect to {self.settings.url}"))

    def _disconnected(self, _client: Client, _userdata: Any, _flags: DisconnectFlags,
                      reason: ReasonCode, _properties: Properties | None) -> None:
        self._on_event(Disconnected(str(reason)))

    def _published(self, _client: Client, _userdata: Any, mid: int, reason: ReasonCode,
                   _properties: Properties | None) -> None:
        code = int(reason.value)
        with self._lock:
            delivery = self._pending.pop(mid, None)
            if delivery is None:
                if len(self._unclaimed) >= _MAX_UNCLAIMED:
                    self._unclaimed.clear()  # answers to publishes that raised PublishFailed
                self._unclaimed[mid] = code
        if delivery is not None:
            delivery._answer(code)
        self._on_event(Published(mid, code))

    def _message(self, _client: Client, _userdata: Any, message: MQTTMessage) -> None:
        self._on_event(Message(message.topic, bytes(message.payload), int(message.qos),
                               bool(message.retain)))

    def _subscribed(self, _client: Client, _userdata: Any, mid: int,
                    reasons: list[ReasonCode], _properties: Properties | None) -> None:
        granted = tuple(None if r.is_failure else int(r.value) for r in reasons)
        self._on_event(Subscribed(mid, granted))


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether `topic` matches the MQTT subscription filter (with + and # wildcards)."""
    return bool(topic_matches_sub(topic_filter, topic))


# ------------------------------------------------------------------ bare clients


def new_client(settings: MqttSettings, session: Session, will: Will | None = None) -> Client:
    """A configured, not yet connected paho client."""
    client = Client(CallbackAPIVersion.VERSION2, client_id=session.client_id, protocol=MQTTv5,
                    manual_ack=session.manual_ack)
    if login := credentials(settings):
        client.username_pw_set(login.username, login.password)
    if parse_broker_url(settings.url).tls:
        client.tls_set_context(ssl_context(settings.tls))
    if will:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    return client


def connect_properties(session: Session) -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = session.expiry_s
    if session.receive_maximum:
        properties.ReceiveMaximum = session.receive_maximum
    return properties


def connect(client: Client, settings: MqttSettings, session: Session) -> None:
    """Start connecting (the network loop must run); raise ConnectFailed if the socket fails."""
    address = parse_broker_url(settings.url)
    try:
        client.connect(address.host, address.port, keepalive=settings.keepalive_s,
                       clean_start=session.clean_start, properties=connect_properties(session))
    except (OSError, ValueError) as error:
        raise ConnectFailed(f"cannot connect to {settings.url}: {error}") from error
