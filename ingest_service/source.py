"""The MQTT side: one connection on a persistent MQTT 5 session, acknowledged by hand.

One I/O thread owns the socket. It parses every whole packet of each chunk it receives
(`adapters.mqtt.wire`), puts the chunk's PUBLISHes on a bounded queue as one list (a queue
operation per message would cost more than decoding it) with their receive time, answers
the broker's keep-alive and reconnects with backoff when the connection drops. `ack` may be
called from any thread: it appends a batch of PUBACKs to the outgoing buffer and wakes the
I/O thread, which sends them as one write (the socket is never used from two threads, which
TLS would not allow).

Stopping waits for a barrier before it disconnects: an UNSUBSCRIBE of a topic nobody uses.
The broker handles a connection's packets in order, so its UNSUBACK proves that it has
processed every PUBACK sent before; closing the socket at once could otherwise reset the
connection (the broker keeps sending) and lose acknowledgements still unread.

Every (re)connection gets a new number. After a reconnect the broker resends, with their
original packet ids, all messages not yet acknowledged, so an acknowledgement due for a message
of an earlier connection is not sent: its redelivery is stored (idempotently) and acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import ssl
import threading
from collections.abc import Sequence

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
from ingest_service.pipeline import Delivery, Inbound

log = logging.getLogger(__name__)

_BARRIER = "loopmeter/ingest/barrier"
_CHUNK_BYTES = 262_144
_CONNECT_TIMEOUT_S = 10.0
# Jittered so that a pool of workers does not reconnect in step after a broker restart.
_RECONNECT = BackoffSettings(initial_s=1.0, max_s=10.0)


class _ConnectionLost(Exception):
    pass


class MqttSource:
    def __init__(self, settings: MqttSettings, session: Session, topic_filter: str,
                 clock: Clock, inbox: queue.Queue[list[Inbound]]) -> None:
        self._settings = settings
        self._session = session
        self._subscription = topic_filter
        self._clock = clock
        self._inbox = inbox
        self._address = parse_broker_url(settings.url)
        self._tls = ssl_context(settings.tls) if self._address.tls else None
        self._connection = 0
        self._connected = threading.Event()
        self._closing = threading.Event()
        self._reconnect = Backoff(_RECONNECT)
        self._barrier = threading.Event()
        self._barrier_id = -1
        self._packet_id = 0
        self._outgoing = bytearray()
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
            self._barrier_id = self._next_packet_id()  # before sending: the UNSUBACK may be quick
            self._send(wire.unsubscribe(self._barrier_id, _BARRIER))
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
        connection = self._connection
        ids = [d.mid for d in deliveries if d.connection == connection and d.qos]
        if ids:
            self._send(wire.pubacks(ids))

    # ---------------------------------------------------------------- any thread

    def _send(self, data: bytes) -> None:
        with self._lock:
            self._outgoing += data
        self._wake()

    def _next_packet_id(self) -> int:
        with self._lock:
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
                credentials=credentials(self._settings)))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def _run(self) -> None:
        failures = 0  # connections in a row that the broker did not accept
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
            accepted_before = self._connection
            try:
                self._serve(self._sock)
            except (_ConnectionLost, wire.ProtocolError, OSError, ssl.SSLError) as error:
                if not self._closing.is_set():
                    log.warning("disconnected from the broker: %s", error or type(error).__name__)
            finally:
                self._disconnected()
            if self._connection != accepted_before:  # the broker had accepted this connection
                failures = 0
            if not self._closing.is_set():
                self._closing.wait(self._reconnect.delay_after(failures))
                failures += 1

    def _disconnected(self) -> None:
        self._connected.clear()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with self._lock:
            self._outgoing.clear()  # PUBACKs of this connection mean nothing to the next

    def _serve(self, sock: socket.socket) -> None:
        """Until the connection drops (raise) or the source stops (return)."""
        link = _Link(sock, self._settings.keepalive_s, self._clock)
        while True:
            closing = self._closing.is_set()
            with self._lock:
                if closing:
                    self._outgoing += wire.DISCONNECT
                link.take(self._outgoing)
            if closing:
                link.flush_blocking()
                return
            readable = link.wait(self._wake_r)
            if self._wake_r in readable:
                self._drain_wake()
            if sock in readable or link.pending():
                self._received(link.receive(), link)
            link.flush()
            link.keep_alive()

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    def _received(self, packets: list[wire.Packet], link: _Link) -> None:
        if not packets:
            return
        # One receive time for a chunk: its packets arrived together.
        received_ms, received_at = self._clock.now_ms(), self._clock.monotonic()
        connection = self._connection
        inbound = []
        for packet in packets:
            if packet.first_byte >> 4 == wire.PacketType.PUBLISH:
                publish = wire.parse_publish(packet)
                inbound.append(Inbound(publish.topic, publish.payload, received_ms, received_at,
                                       Delivery(publish.packet_id, publish.qos, connection),
                                       publish.dup))
            else:
                self._handle(packet, link)
                connection = self._connection
        if inbound:
            self._deliver(inbound)

    def _handle(self, packet: wire.Packet, link: _Link) -> None:
        kind = packet.type
        if kind == wire.PacketType.CONNACK:
            self._on_connack(wire.parse_connack(packet), link)
        elif kind == wire.PacketType.SUBACK:
            _, reasons = wire.parse_acknowledgement(packet)
            if any(reason >= 0x80 for reason in reasons):
                log.error("the broker refused the subscription to %s (reason 0x%02x)",
                          self._subscription, reasons[0])
        elif kind == wire.PacketType.UNSUBACK:
            if wire.parse_acknowledgement(packet)[0] == self._barrier_id:
                self._barrier.set()
        elif kind == wire.PacketType.PINGRESP:
            link.pong()
        elif kind == wire.PacketType.DISCONNECT:
            raise _ConnectionLost(f"the broker disconnected (reason 0x"
                                  f"{wire.disconnect_reason(packet):02x})")
        else:
            raise wire.ProtocolError(f"an unexpected packet of type {kind}")

    def _deliver(self, inbound: list[Inbound]) -> None:
        while True:  # the queue is bounded: a full one holds up reading, and TCP the broker
            try:
                self._inbox.put(inbound, timeout=1.0)
                return
            except queue.Full:
                if self._closing.is_set():
                    return

    def _on_connack(self, connack: wire.ConnAck, link: _Link) -> None:
        if connack.reason >= 0x80:
            raise _ConnectionLost(f"the broker refused the connection (reason "
                                  f"0x{connack.reason:02x}: {connack.reason_string or ''})")
        if connack.server_keepalive_s is not None:
            link.keepalive_s = connack.server_keepalive_s
        self._connection += 1
        log.info("connected to %s as %s (session present: %s)", self._settings.url,
                 self._session.client_id, connack.session_present)
        self._send(wire.subscribe(self._next_packet_id(), self._subscription))
        self._connected.set()


class _Link:
    """One connected socket: non-blocking reads and writes, and the MQTT keep-alive."""

    def __init__(self, sock: socket.socket, keepalive_s: int, clock: Clock) -> None:
        self._sock = sock
        self._reader = wire.PacketReader()
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

    def wait(self, wake: socket.socket) -> list[socket.socket]:
        timeout = 0.0 if self.pending() else self._until_due()
        writers = [self._sock] if self._outgoing else []
        readable, _, _ = select.select([self._sock, wake], writers, [], timeout)
        return readable

    def pending(self) -> int:
        """Bytes TLS has decrypted that `select` cannot see."""
        return self._sock.pending() if isinstance(self._sock, ssl.SSLSocket) else 0

    def receive(self) -> list[wire.Packet]:
        try:
            data = self._sock.recv(_CHUNK_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return []
        if not data:
            raise _ConnectionLost("the broker closed the connection")
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

    def keep_alive(self) -> None:
        now = self._clock.monotonic()
        if self._ping_sent is not None and now - self._ping_sent > self.keepalive_s:
            raise _ConnectionLost(f"no PINGRESP within {self.keepalive_s} s")
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
