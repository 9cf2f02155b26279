"""The MQTT side: one connection on a persistent MQTT 5 session, acknowledged by hand.

One I/O thread owns the socket. It parses every whole packet of each chunk it receives
(`adapters.mqtt.wire`), puts the chunk's PUBLISHes on a bounded queue as one list (a queue
operation per message would cost more than decoding it) with their receive time, answers
the broker's keep-alive and reconnects with jittered backoff when the connection drops.
`ack` and `confirm` may be called from any thread: they append to the outgoing buffer under
the connection lock and wake the I/O thread, which sends as one write (the socket is never
used from two threads, which TLS would not allow).

Backpressure: when the queue is full, the I/O thread holds the chunk and stops reading the
socket (TCP then holds up the broker) but keeps writing, so PUBACKs and PINGREQs still go out
during any stall and the broker never drops the connection for silence.

The subscription is sent on every CONNACK, whether or not the broker kept the session:
Mosquitto 2.0 restores sessions from its persistence file without their shared
subscriptions. A refused SUBACK leaves the source unsubscribed (health fails) and is retried
with backoff. A session the broker lost (session present false on a reconnect) is counted.
DISCONNECT 0x8E (session taken over) means that another client uses this client id, two
workers with one index: the source stops and reports it instead of fighting for the id.

Stopping waits for a barrier before it disconnects: an UNSUBSCRIBE of a topic nobody uses.
The broker handles a connection's packets in order, so its UNSUBACK proves that it has
processed every PUBACK sent before; closing the socket at once could otherwise reset the
connection (the broker keeps sending) and lose acknowledgements still unread.

Every (re)connection gets a new number. After a reconnect the broker resends, with their
original packet ids, all messages not yet acknowledged, so an acknowledgement due for a message
of an earlier connection is not sent: its redelivery is stored (idempotently) and acknowledged.

End-to-end confirmations (`confirm`) are QoS 1 PUBLISHes to each device's ack topic, at most
the broker's receive maximum in flight; the rest wait in a bounded queue (a confirmation
dropped from it is counted, and only makes the device send its message again).
"""
from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import ssl
import threading
from collections import deque
from collections.abc import Mapping, Sequence

from adapters.backoff import Backoff, BackoffSettings
from adapters.clock import Clock
from adapters.mqtt import (
    ConnectFailed,
    MqttSettings,
    Session,
    credentials,
    parse_broker_url,
    ssl_context,
    wire,
)
from contract import DeviceId, Limits, ack_messages, ack_subscription, encode_ack
from ingest_service.pipeline import Delivery, Inbound
from ingest_service.stats import Stats

log = logging.getLogger(__name__)

_BARRIER = "loopmeter/ingest/barrier"
_CHUNK_BYTES = 262_144
_CONNECT_TIMEOUT_S = 10.0
# Jittered so that a pool of workers does not reconnect in step after a broker restart.
_RECONNECT = BackoffSettings(initial_s=1.0, max_s=10.0)
# What the broker may send at most (MQTT 5 Maximum Packet Size): the contract's largest
# payload plus room for the topic and properties. Anything larger is refused unread.
MAX_PACKET_BYTES = Limits().max_payload_bytes + 65_536
_CONFIRM_QUEUE = 100_000  # confirmations waiting for the broker's receive maximum
# A client id taken over: Mosquitto 2.0 closes the old connection without DISCONNECT 0x8E,
# so this many accepted connections in a row, each closed by the broker within the window,
# count as a takeover.
_TAKEOVER_STREAK = 3
_TAKEOVER_WINDOW_S = 15.0
_HELD_POLL_S = 0.02  # while the inbox is full: how often room is looked for


class _ConnectionLost(Exception):
    pass


class _ClosedByBroker(_ConnectionLost):
    """The broker closed the socket without a DISCONNECT packet."""


class _TakenOver(Exception):
    pass


class MqttSource:
    def __init__(self, settings: MqttSettings, session: Session, topic_filter: str,
                 clock: Clock, inbox: queue.Queue[list[Inbound]], *,
                 stats: Stats | None = None, codec: wire.Codec = "hand-written") -> None:
        self._settings = settings
        self._session = session
        self._subscription = topic_filter
        self._codec = codec
        self._clock = clock
        self._inbox = inbox
        self.stats = stats or Stats()
        self._address = parse_broker_url(settings.url)
        self._tls = ssl_context(settings.tls) if self._address.tls else None
        self._connection = 0  # connections the broker accepted
        self._live = 0  # the number of the connection now open, 0 while there is none
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._closing = threading.Event()
        self._failure: str | None = None
        self._reconnect = Backoff(_RECONNECT)
        self._subscribe_id = -1
        self._refusals = 0  # refused SUBACKs in a row
        self._resubscribe_at: float | None = None
        self._barrier = threading.Event()
        self._barrier_id = -1
        self._packet_id = 0
        self._outgoing = bytearray()
        self._confirms: deque[tuple[str, bytes]] = deque()
        self._confirms_in_flight: set[int] = set()
        self._send_quota = wire.DEFAULT_RECEIVE_MAXIMUM
        self._held: list[Inbound] | None = None  # received, waiting for room in the inbox
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="mqtt-source", daemon=True)
        self._sock: socket.socket | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscribed(self) -> bool:
        """The broker granted the subscription on the connection now open."""
        return self._subscribed.is_set()

    @property
    def failure(self) -> str | None:
        """Why the source stopped on its own (a configuration error), or None."""
        return self._failure

    @property
    def connections(self) -> int:
        """How many times the broker has accepted this source's connection."""
        return self._connection

    def start(self, timeout_s: float = 30.0, *, wait: bool = False) -> None:
        """Connect, subscribe and start receiving; raise ConnectFailed if the socket fails.

        With `wait`, an unreachable broker is not an error: the I/O thread keeps trying, with
        the capped reconnect backoff, and `connected` stays False until it gets through.
        """
        try:
            self._sock = self._open()
        except (OSError, ssl.SSLError) as error:
            if not wait:
                self._close_wake()
                raise ConnectFailed(f"cannot connect to {self._settings.url}: {error}") from error
            log.warning("broker %s unreachable (%s); retrying with backoff, not ready until "
                        "connected", self._settings.url, error)
        self._thread.start()
        if self._sock is not None and not self._connected.wait(timeout_s):
            log.warning("not yet connected to %s; still trying", self._settings.url)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect once the broker has processed every acknowledgement sent."""
        if self.connected:
            self._barrier.clear()
            with self._lock:  # the id before sending: the UNSUBACK may be quick
                self._barrier_id = self._take_packet_id()
                self._outgoing += wire.unsubscribe(self._barrier_id, _BARRIER)
            self._wake()
            if not self._barrier.wait(timeout_s):
                log.warning("the broker did not confirm the last acknowledgements; their "
                            "messages will be delivered again")
        self._closing.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout_s + _CONNECT_TIMEOUT_S)
        self._close_wake()

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge, in the order given, what this connection delivered at QoS 1."""
        with self._lock:  # the connection cannot change between the check and the append
            live = self._live
            ids = [d.mid for d in deliveries if d.connection == live and d.qos]
            if ids:
                self._outgoing += wire.pubacks(ids)
        if ids:
            self._wake()

    def confirm(self, durable: Mapping[DeviceId, Sequence[int]]) -> None:
        """Publish to each device which of its data messages are durable (QoS 1)."""
        now_ms = self._clock.now_ms()
        packets = [(device.ack_topic, encode_ack(message))
                   for device, seqs in durable.items() for message in ack_messages(seqs, now_ms)]
        with self._lock:
            room = max(0, _CONFIRM_QUEUE - len(self._confirms))
            self._confirms.extend(packets[:room])
            self.stats.confirms_dropped += len(packets) - min(room, len(packets))
        self._wake()

    # ---------------------------------------------------------------- any thread

    def _take_packet_id(self) -> int:
        """The next packet id; the caller holds the lock."""
        self._packet_id = self._packet_id % 65_535 + 1
        return self._packet_id

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: already awake; closed: stopped
            self._wake_w.send(b"\x00")

    def _close_wake(self) -> None:
        self._wake_r.close()
        self._wake_w.close()

    # ---------------------------------------------------------------- the I/O thread

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self._address.host, self._address.port),
                                        timeout=_CONNECT_TIMEOUT_S)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address.host)
            sock.sendall(wire.connect(
                self._session.client_id, keepalive_s=self._settings.keepalive_s,
                clean_start=self._session.clean_start, session_expiry_s=self._session.expiry_s,
                receive_maximum=self._session.receive_maximum,
                credentials=credentials(self._settings), maximum_packet_size=MAX_PACKET_BYTES))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def _run(self) -> None:
        failures = 0  # connections in a row that the broker did not accept
        cut_short = 0  # accepted connections in a row that the broker soon closed unsaid
        while not self._closing.is_set():
            if self._sock is None:
                try:
                    self._sock = self._open()
                except (OSError, ssl.SSLError) as error:
                    delay = self._reconnect.delay_after(failures)
                    log.warning("cannot connect to %s: %s; next attempt in %.1f s",
                                self._settings.url, error, delay)
                    self._closing.wait(delay)
                    failures += 1
                    continue
            accepted_before, opened_at = self._connection, self._clock.monotonic()
            try:
                self._serve(self._sock)
            except _TakenOver as error:
                self._taken_over(str(error))
            except (_ConnectionLost, wire.ProtocolError, OSError, ssl.SSLError) as error:
                if not self._closing.is_set():
                    log.warning("disconnected from the broker: %s", error or type(error).__name__)
                short = (isinstance(error, _ClosedByBroker) and self._connection != accepted_before
                         and self._clock.monotonic() - opened_at < _TAKEOVER_WINDOW_S)
                cut_short = cut_short + 1 if short else 0
                if cut_short >= _TAKEOVER_STREAK:
                    self._taken_over(_taken_over_message(self._session.client_id, cut_short))
            finally:
                self._disconnected()
            if self._connection != accepted_before:  # the broker had accepted this connection
                failures = 0
            if not self._closing.is_set():
                self._closing.wait(self._reconnect.delay_after(failures))
                failures += 1

    def _taken_over(self, message: str) -> None:
        self._failure = message
        log.error("%s", message)
        self._closing.set()

    def _disconnected(self) -> None:
        self._connected.clear()
        self._subscribed.clear()
        self.stats.subscribed = False
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with self._lock:
            self._live = 0
            self._outgoing.clear()  # PUBACKs of this connection mean nothing to the next
            self._confirms_in_flight.clear()  # unconfirmed: the devices will send again

    def _serve(self, sock: socket.socket) -> None:
        """Until the connection drops (raise) or the source stops (return)."""
        link = _Link(sock, self._settings.keepalive_s, self._clock, self._codec)
        while True:
            closing = self._closing.is_set()
            with self._lock:
                self._release_confirms()
                if closing:
                    self._outgoing += wire.DISCONNECT
                link.take(self._outgoing)
            if closing:
                link.flush_blocking()
                return
            reading = self._release_held()
            readable = link.wait(self._wake_r, reading, self._until_resubscribe())
            if self._wake_r in readable:
                self._drain_wake()
            if reading and (sock in readable or link.pending()):
                self._received(link.receive(), link)
            self._resubscribe_if_due()
            link.flush()
            link.keep_alive(reading)

    def _release_held(self) -> bool:
        """Queue the chunk held back, if there is room now; True when reading may go on."""
        if self._held is None:
            return True
        try:
            self._inbox.put_nowait(self._held)
        except queue.Full:
            return False
        self._held = None
        return True

    def _release_confirms(self) -> None:
        """Send waiting confirmations while the broker's receive maximum allows (lock held)."""
        if not self._live:
            return
        while self._confirms and len(self._confirms_in_flight) < self._send_quota:
            topic, payload = self._confirms.popleft()
            packet_id = self._take_packet_id()
            self._confirms_in_flight.add(packet_id)
            self._outgoing += wire.publish(packet_id, topic, payload)
            self.stats.confirms_published += 1

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    def _received(self, packets: list[wire.Frame], link: _Link) -> None:
        if not packets:
            return
        # One receive time for a chunk: its packets arrived together.
        received_ms, received_at = self._clock.now_ms(), self._clock.monotonic()
        connection = self._connection
        inbound = []
        for packet in packets:
            if packet.type == wire.PacketType.PUBLISH:
                publish = wire.parse_publish(packet)
                inbound.append(Inbound(publish.topic, publish.payload, received_ms, received_at,
                                       Delivery(publish.packet_id, publish.qos, connection),
                                       publish.dup))
            else:
                self._handle(packet, link)
                connection = self._connection
        if inbound:
            self._held = inbound
            self._release_held()

    def _handle(self, packet: wire.Frame, link: _Link) -> None:
        kind = packet.type
        if kind == wire.PacketType.PUBACK:
            self._on_puback(*wire.parse_puback(packet))
        elif kind == wire.PacketType.CONNACK:
            self._on_connack(wire.parse_connack(packet), link)
        elif kind == wire.PacketType.SUBACK:
            self._on_suback(*wire.parse_acknowledgement(packet))
        elif kind == wire.PacketType.UNSUBACK:
            if wire.parse_acknowledgement(packet)[0] == self._barrier_id:
                self._barrier.set()
        elif kind == wire.PacketType.PINGRESP:
            wire.parse_pingresp(packet)
            link.pong()
        elif kind == wire.PacketType.DISCONNECT:
            self._on_disconnect(wire.disconnect_reason(packet))
        else:
            raise wire.ProtocolError(f"an unexpected packet of type {kind}")

    def _on_disconnect(self, reason: int) -> None:
        if reason == wire.SESSION_TAKEN_OVER:
            raise _TakenOver(_taken_over_message(self._session.client_id))
        raise _ConnectionLost(f"the broker disconnected (reason 0x{reason:02x})")

    def _on_puback(self, packet_id: int, reason: int) -> None:
        with self._lock:
            self._confirms_in_flight.discard(packet_id)
        if reason < 0x80:
            self.stats.confirms_accepted += 1
        else:
            self.stats.confirms_refused += 1
            log.warning("the broker refused a confirmation (reason 0x%02x): may this login "
                        "publish to %s?", reason, ack_subscription())

    def _on_suback(self, packet_id: int, reasons: list[int]) -> None:
        if packet_id != self._subscribe_id:
            return
        if reasons and all(reason < 0x80 for reason in reasons):
            self._refusals = 0
            self._subscribed.set()
            self.stats.subscribed = True
            return
        self.stats.subscribe_refusals += 1
        delay = self._reconnect.delay_after(self._refusals)
        self._refusals += 1
        self._resubscribe_at = self._clock.monotonic() + delay
        log.error("the broker refused the subscription to %s (reason 0x%02x); retrying in "
                  "%.1f s", self._subscription, reasons[0] if reasons else 0, delay)

    def _subscribe(self) -> None:
        with self._lock:
            self._subscribe_id = self._take_packet_id()
            self._outgoing += wire.subscribe(self._subscribe_id, self._subscription)
        self._resubscribe_at = None

    def _until_resubscribe(self) -> float | None:
        if self._resubscribe_at is None:
            return None
        return max(0.0, self._resubscribe_at - self._clock.monotonic())

    def _resubscribe_if_due(self) -> None:
        if self._resubscribe_at is not None and self._clock.monotonic() >= self._resubscribe_at:
            self._subscribe()

    def _on_connack(self, connack: wire.ConnAck, link: _Link) -> None:
        if connack.reason >= 0x80:
            raise _ConnectionLost(f"the broker refused the connection (reason "
                                  f"0x{connack.reason:02x}: {connack.reason_string or ''})")
        if connack.server_keepalive_s is not None:
            link.keepalive_s = connack.server_keepalive_s
        if self._connection and not connack.session_present:
            self.stats.sessions_lost += 1
            log.warning("the broker no longer had this worker's session (restarted without "
                        "persistence, or the session expired): messages it held are lost")
        self._connection += 1
        with self._lock:
            self._live = self._connection
            self._send_quota = connack.receive_maximum
        log.info("connected to %s as %s (session present: %s)", self._settings.url,
                 self._session.client_id, connack.session_present)
        self._subscribe()
        self._connected.set()


def _taken_over_message(client_id: str, closes: int = 0) -> str:
    how = (f"the broker closed {closes} connections in a row soon after accepting them "
           "(Mosquitto 2.0 closes the old connection unsaid when a client takes over its id)"
           if closes else "another client took over its session (DISCONNECT 0x8E)")
    return (f"{how}: two ingest workers probably share the client id {client_id!r}; give each "
            "its own LOOPMETER_INGEST_WORKER index. This worker stops instead of fighting.")


class _Link:
    """One connected socket: non-blocking reads and writes, and the MQTT keep-alive."""

    def __init__(self, sock: socket.socket, keepalive_s: int, clock: Clock,
                 codec: wire.Codec) -> None:
        self._sock = sock
        self._reader = wire.PacketReader(MAX_PACKET_BYTES, codec)
        self._outgoing = bytearray()
        self.keepalive_s = keepalive_s
        self._clock = clock
        self._last_sent = clock.monotonic()
        self._ping_sent: float | None = None

    def take(self, outgoing: bytearray) -> None:
        """Move what other threads queued into this link's buffer (under their lock)."""
        if outgoing:
            self._outgoing += outgoing
            outgoing.clear()

    def wait(self, wake: socket.socket, reading: bool,
             due_s: float | None) -> list[socket.socket]:
        """Until the socket (if `reading`) or `wake` is readable, a write or a ping is due, or
        `due_s` (the caller's own timer) has passed."""
        if not reading:
            timeout = min(_HELD_POLL_S, self._until_due())
        else:
            timeout = 0.0 if self.pending() else self._until_due()
        if due_s is not None:
            timeout = min(timeout, due_s)
        readers = [self._sock, wake] if reading else [wake]
        writers = [self._sock] if self._outgoing else []
        readable, _, _ = select.select(readers, writers, [], timeout)
        return readable

    def pending(self) -> int:
        """Bytes TLS has decrypted that `select` cannot see."""
        return self._sock.pending() if isinstance(self._sock, ssl.SSLSocket) else 0

    def receive(self) -> list[wire.Frame]:
        try:
            data = self._sock.recv(_CHUNK_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return []
        if not data:
            raise _ClosedByBroker("the broker closed the connection")
        return self._reader.feed(data)

    def flush(self) -> None:
        if not self._outgoing:
            return
        try:
            sent = self._sock.send(self._outgoing)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        del self._outgoing[:sent]
        self._last_sent = self._clock.monotonic()

    def flush_blocking(self, timeout_s: float = _CONNECT_TIMEOUT_S) -> None:
        self._sock.settimeout(timeout_s)
        self._sock.sendall(self._outgoing)
        self._outgoing.clear()

    def keep_alive(self, reading: bool) -> None:
        """Send a PINGREQ when due; give up on a PINGRESP overdue while reading."""
        now = self._clock.monotonic()
        if self._ping_sent is not None and now - self._ping_sent > self.keepalive_s:
            if reading:
                raise _ConnectionLost(f"no PINGRESP within {self.keepalive_s} s")
            self._ping_sent = None  # unread in the socket while reading is held up
        if self.keepalive_s and self._ping_sent is None and self._until_due() == 0.0:
            self._outgoing += wire.PINGREQ
            self._ping_sent = now
            self.flush()

    def pong(self) -> None:
        self._ping_sent = None

    def _until_due(self) -> float:
        """Seconds until a PINGREQ is due, or until an outstanding one has waited too long."""
        if not self.keepalive_s:
            return 1.0
        since = self._last_sent if self._ping_sent is None else self._ping_sent
        return max(0.0, since + self.keepalive_s - self._clock.monotonic())
