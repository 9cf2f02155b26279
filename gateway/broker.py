"""The gateway's side of the broker: device logins (dynamic security) and publishing.

`BrokerAdmin` and `Publisher` are the ports the core uses; `MqttLink` is the one MQTT
connection behind both adapters (and the liveness subscription). MQTT failures and
refusals become `Unavailable` here and nowhere else.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from adapters import mqtt
from adapters.mqtt import MqttError, MqttSettings, Session
from adapters.mqtt.dynsec import device_acls
from gateway.core.errors import Unavailable

log = logging.getLogger(__name__)

DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"
DYNSEC_RESPONSE_TOPIC = f"{DYNSEC_TOPIC}/response"
# Deleting what is not there is fine: provisioning starts from a clean slate on purpose.
# Any other command failing on a missing client is an error.
_ABSENT = {"deleteClient": "Client not found", "deleteRole": "Role not found"}

MessageHandler = Callable[[str, bytes, bool], None]
"""Called with topic, payload and the retain flag, on the connection's network thread."""


class BrokerAdmin(Protocol):
    """Device logins on the broker, each pinned to its client id and confined to its topics."""

    def create_device(self, username: str, password: str, topic_prefix: str, *,
                      client_id: str) -> None:
        """Create (or re-create) the login, usable with `client_id` only, and its ACL."""
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
    """One MQTT 5 connection with request/acknowledge semantics on top of its events."""

    def __init__(self, settings: MqttSettings, timeout_s: float,
                 client_id: str | None = None) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        session = Session(client_id or f"loopmeter-gateway-{uuid.uuid4().hex[:8]}")
        self._connection = mqtt.Connection(settings, session, self._on_event)
        self._connected = threading.Event()
        self._handlers: dict[str, MessageHandler] = {}

    # ------------------------------------------------------------ lifecycle

    def open(self, *, wait: bool = False) -> None:
        """Connect and wait for the CONNACK; Unavailable if the broker refuses or is away.

        With `wait`, a broker that is away is no error: paho keeps trying in the background
        (1 s doubling to 30 s, each failure logged) and `connected` is False until then.
        """
        try:
            self._connection.connect()
        except MqttError as error:
            if not wait:
                raise Unavailable(str(error)) from error
            log.warning("broker %s unreachable (%s); retrying in the background, /health "
                        "reports broker: false until connected", self._settings.url, error)
            self._connection.connect_in_background()
            self._connection.start()
            return
        self._connection.start()
        if not self._connected.wait(self._timeout_s) and not wait:
            self.close()
            raise Unavailable(f"the broker at {self._settings.url} did not accept the login")

    def close(self) -> None:
        self._connection.stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Deliver messages matching `topic_filter`, also after every reconnect."""
        self._handlers[topic_filter] = handler
        if self.connected:
            self._subscribe(topic_filter)

    # ------------------------------------------------------------ publishing

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK; Unavailable on timeout or refusal."""
        if not self.connected:
            raise Unavailable("not connected to the broker")
        try:
            delivery = self._connection.publish(topic, payload, retain=retain)
        except MqttError as error:
            raise Unavailable(str(error)) from error
        if not delivery.wait(self._timeout_s):
            raise Unavailable(f"the broker did not acknowledge within {self._timeout_s} s")
        reason = delivery.reason_code or 0
        if reason >= mqtt.FAILURE:
            raise Unavailable(f"the broker refused the publish to {topic} "
                              f"(reason code 0x{reason:02x})")

    def _subscribe(self, topic_filter: str) -> None:
        try:
            self._connection.subscribe(topic_filter, qos=1)
        except MqttError as error:  # the connection dropped; its reconnect subscribes again
            log.info("subscribing to %s failed: %s", topic_filter, error)

    # ------------------------------------------------------------ connection events

    def _on_event(self, event: mqtt.MqttEvent) -> None:
        if isinstance(event, mqtt.Connected):
            for topic_filter in self._handlers:
                self._subscribe(topic_filter)
            self._connected.set()
        elif isinstance(event, mqtt.ConnectRefused):
            log.warning("broker refused the gateway's login: %s", event.reason)
        elif isinstance(event, mqtt.Disconnected):
            was_connected = self._connected.is_set()
            self._connected.clear()
            if was_connected:
                log.info("disconnected from the broker: %s; reconnecting", event.reason)
            else:  # a failed attempt while the broker is away: a line per retry
                log.warning("still no broker (%s); retrying, /health reports broker: false",
                            event.reason)
        elif isinstance(event, mqtt.Message):
            self._deliver(event)

    def _deliver(self, message: mqtt.Message) -> None:
        for topic_filter, handler in self._handlers.items():
            if mqtt.topic_matches(topic_filter, message.topic):
                handler(message.topic, message.payload, message.retain)


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

    def create_device(self, username: str, password: str, topic_prefix: str, *,
                      client_id: str) -> None:
        role = _role_name(username)
        # Pinned: the broker refuses the login with any other client id, so a device can
        # neither take over another client's session nor kick another client off.
        self._run([
            {"command": "deleteClient", "username": username},
            {"command": "deleteRole", "rolename": role},
            {"command": "createRole", "rolename": role, "acls": [
                {"priority": 0, **acl} for acl in device_acls(topic_prefix)]},
            {"command": "createClient", "username": username, "password": password,
             "clientid": client_id, "roles": [{"rolename": role, "priority": 0}]},
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
