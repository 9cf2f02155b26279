"""The gateway's side of the broker: device logins (dynamic security) and publishing.

`BrokerAdmin` and `Publisher` are the ports the core uses; `MqttLink` is the one paho
connection behind both adapters (and the liveness subscription). paho's failures and
refusals become `Unavailable` here and nowhere else.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from paho.mqtt.client import (
    Client,
    ConnectFlags,
    DisconnectFlags,
    MQTTMessage,
    topic_matches_sub,
)
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from adapters.mqtt import MqttError, MqttSettings, Session, connect, new_client
from gateway.core.errors import Unavailable

log = logging.getLogger(__name__)

DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"
DYNSEC_RESPONSE_TOPIC = f"{DYNSEC_TOPIC}/response"
# Deleting what is not there is fine: provisioning starts from a clean slate on purpose.
# Any other command failing on a missing client is an error.
_ABSENT = {"deleteClient": "Client not found", "deleteRole": "Role not found"}
_MAX_ABANDONED = 1024

MessageHandler = Callable[[str, bytes, bool], None]
"""Called with topic, payload and the retain flag, on paho's network thread."""


class BrokerAdmin(Protocol):
    """Device logins on the broker, each allowed to publish only under its topic prefix."""

    def create_device(self, username: str, password: str, topic_prefix: str) -> None:
        """Create (or re-create) the login and its ACL."""
        ...

    def delete_device(self, username: str) -> None:
        """Delete the login and its ACL; connected sessions are kicked."""
        ...

    def set_password(self, username: str, password: str) -> None: ...


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and return once the broker has acknowledged it."""
        ...


class Link(Protocol):
    """What the adapters below need of a connection; `MqttLink` is the real one."""

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None: ...


class MqttLink:
    """One MQTT 5 connection with request/acknowledge semantics on top of paho's callbacks."""

    def __init__(self, settings: MqttSettings, timeout_s: float,
                 client_id: str | None = None) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._session = Session(client_id or f"loopmeter-gateway-{uuid.uuid4().hex[:8]}")
        self._client: Client = new_client(settings, self._session)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._connected = threading.Event()
        self._acks = threading.Condition()
        self._results: dict[int, int] = {}
        self._abandoned: set[int] = set()
        self._handlers: dict[str, MessageHandler] = {}

    # ------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Connect and wait for the CONNACK; Unavailable if the broker refuses or is away."""
        try:
            connect(self._client, self._settings, self._session)
        except MqttError as error:
            raise Unavailable(str(error)) from error
        self._client.loop_start()
        if not self._connected.wait(self._timeout_s):
            self.close()
            raise Unavailable(f"the broker at {self._settings.url} did not accept the login")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Deliver messages matching `topic_filter`, also after every reconnect."""
        self._handlers[topic_filter] = handler
        if self.connected:
            self._client.subscribe(topic_filter, qos=1)

    # ------------------------------------------------------------ publishing

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK; Unavailable on timeout or refusal."""
        if not self.connected:
            raise Unavailable("not connected to the broker")
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise Unavailable(f"publish to {topic} failed: {info.rc.name}")
        reason = self._wait_ack(info.mid)
        if reason >= 0x80:
            raise Unavailable(f"the broker refused the publish to {topic} "
                              f"(reason code 0x{reason:02x})")

    def _wait_ack(self, mid: int) -> int:
        with self._acks:
            if not self._acks.wait_for(lambda: mid in self._results, self._timeout_s):
                self._abandon(mid)
                raise Unavailable(f"the broker did not acknowledge within {self._timeout_s} s")
            return self._results.pop(mid)

    def _abandon(self, mid: int) -> None:
        if len(self._abandoned) >= _MAX_ABANDONED:
            self._abandoned.clear()
        self._abandoned.add(mid)

    # ------------------------------------------------------------ paho callbacks

    def _on_connect(self, client: Client, _userdata: Any, _flags: ConnectFlags,
                    reason: ReasonCode, _properties: Properties | None) -> None:
        if reason.is_failure:
            log.warning("broker refused the gateway's login: %s", reason)
            return
        for topic_filter in self._handlers:
            client.subscribe(topic_filter, qos=1)
        self._connected.set()

    def _on_disconnect(self, _client: Client, _userdata: Any, _flags: DisconnectFlags,
                       reason: ReasonCode, _properties: Properties | None) -> None:
        self._connected.clear()
        log.info("disconnected from the broker: %s", reason)

    def _on_publish(self, _client: Client, _userdata: Any, mid: int, reason: ReasonCode,
                    _properties: Properties | None) -> None:
        with self._acks:
            if mid in self._abandoned:
                self._abandoned.discard(mid)
                return
            self._results[mid] = reason.value
            self._acks.notify_all()

    def _on_message(self, _client: Client, _userdata: Any, message: MQTTMessage) -> None:
        for topic_filter, handler in self._handlers.items():
            if _matches(topic_filter, message.topic):
                handler(message.topic, bytes(message.payload), bool(message.retain))


def _matches(topic_filter: str, topic: str) -> bool:
    return bool(topic_matches_sub(topic_filter, topic))


class MqttPublisher:
    """The HTTP ingest's way into the one MQTT pipeline."""

    def __init__(self, link: Link) -> None:
        self._link = link

    def publish(self, topic: str, payload: bytes) -> None:
        self._link.publish(topic, payload)


class DynsecAdmin:
    """Talks to Mosquitto's dynamic-security plugin over its `$CONTROL` topic."""

    def __init__(self, link: Link, timeout_s: float) -> None:
        self._link = link
        self._timeout_s = timeout_s
        self._waiting: dict[str, list[dict[str, Any]] | None] = {}
        self._answered = threading.Condition()
        link.subscribe(DYNSEC_RESPONSE_TOPIC, self._on_response)

    def create_device(self, username: str, password: str, topic_prefix: str) -> None:
        role = _role_name(username)
        acl = {"acltype": "publishClientSend", "topic": f"{topic_prefix}/#", "allow": True,
               "priority": 0}
        self._run([
            {"command": "deleteClient", "username": username},
            {"command": "deleteRole", "rolename": role},
            {"command": "createRole", "rolename": role, "acls": [acl]},
            {"command": "createClient", "username": username, "password": password,
             "roles": [{"rolename": role, "priority": 0}]},
        ])

    def delete_device(self, username: str) -> None:
        self._run([{"command": "deleteClient", "username": username},
                   {"command": "deleteRole", "rolename": _role_name(username)}])

    def set_password(self, username: str, password: str) -> None:
        self._run([{"command": "setClientPassword", "username": username,
                    "password": password}])

    def _run(self, commands: list[dict[str, Any]]) -> None:
        """Send commands in one message; Unavailable on any error but deleting the absent."""
        correlation = uuid.uuid4().hex
        for command in commands:
            command["correlationData"] = correlation
        with self._answered:
            self._waiting[correlation] = None
        try:
            self._link.publish(DYNSEC_TOPIC, json.dumps({"commands": commands}).encode())
            responses = self._await(correlation)
        finally:
            with self._answered:
                self._waiting.pop(correlation, None)
        errors = [f"{r.get('command')}: {r['error']}" for r in responses
                  if r.get("error") and r["error"] != _ABSENT.get(str(r.get("command")))]
        if errors:
            raise Unavailable("the broker refused: " + "; ".join(errors))

    def _await(self, correlation: str) -> list[dict[str, Any]]:
        with self._answered:
            if not self._answered.wait_for(lambda: self._waiting.get(correlation) is not None,
                                           self._timeout_s):
                raise Unavailable("the dynamic-security plugin did not answer; is it enabled "
                                  "and is the gateway's login its admin?")
            return self._waiting[correlation] or []

    def _on_response(self, _topic: str, payload: bytes, _retained: bool) -> None:
        try:
            responses = json.loads(payload).get("responses", [])
        except (ValueError, AttributeError):
            return
        with self._answered:
            for correlation in {r.get("correlationData") for r in responses}:
                if correlation in self._waiting:
                    self._waiting[correlation] = [
                        r for r in responses if r.get("correlationData") == correlation]
            self._answered.notify_all()


def _role_name(username: str) -> str:
    return f"device-{username}"
