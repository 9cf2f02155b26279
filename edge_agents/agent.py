"""The agent: samples a driver, queues every sample durably, publishes with QoS 1.

Single-threaded: `tick()` does one round of work (network, sampling, sealing, sending);
`start()` runs ticks in a thread and `stop()` ends it. Live messages go out as soon as
they are formed; messages formed while offline are flagged historical and replayed in
order at a bounded rate, while live ones keep flowing.

End-to-end acknowledgement (`confirm`, on by default): the agent subscribes to its device's
`.../ack/durable` topic and keeps each data message in its queue after the broker's PUBACK,
until ingest confirms that the message's seq is durable; a message not confirmed within
`confirm.timeout_s` of its PUBACK is sent again (ingest's writes are idempotent). Messages
sent and not yet confirmed count against `replay.max_in_flight`, which therefore bounds what
one agent can have queued at the broker. If the broker refuses the subscription, the
connection falls back to deleting on PUBACK, and says so in its log.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from adapters.backoff import Backoff, BackoffSettings
from adapters.clock import Clock
from adapters.logs import fields
from adapters.mqtt import ConnectFailed, MqttSettings, Will
from contract import (
    AgentInfo,
    BirthMessage,
    ContractError,
    DataMessage,
    DeathMessage,
    DeviceId,
    EquipmentType,
    MessageKind,
    MetricDeclaration,
    Sample,
    StatusMessage,
    decode_ack,
    encode,
)
from edge_agents.driver import DeviceClock, Driver, EventSource
from edge_agents.link import (
    Acked,
    Connected,
    Disconnected,
    Link,
    LinkEvent,
    PahoLink,
    Received,
    Subscribed,
)
from edge_agents.store import QueueSettings, Row, Store

log = logging.getLogger(__name__)

AGENT_NAME = "loopmeter-agent"
AGENT_VERSION = "0.1.0"
CONNACK_TIMEOUT_S = 10.0
REPLAY_LOG_S = 10.0  # network seconds between two replay-progress lines

log = logging.getLogger(__name__)


class ReplaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples_per_s: float = Field(20_000, gt=0, description="Rate at which the backlog is "
                                                           "replayed after an outage.")
    max_in_flight: int = Field(100, ge=1, description="Most messages sent and not yet "
                                                      "acknowledged (by the broker, or with "
                                                      "`confirm` by ingest) at once.")


class ConfirmSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Keep each data message until ingest confirms "
                                            "it durable on the device's ack topic; off, the "
                                            "broker's PUBACK deletes it (contract v1 before "
                                            "end-to-end acknowledgement).")
    timeout_s: float = Field(60.0, gt=0, description="Send a data message again when ingest "
                                                     "has not confirmed it this long after "
                                                     "the broker's PUBACK.")


class AgentConfig(BaseModel):
    """What the agent is and how it batches and delivers; the driver says what it reads."""

    # Here and in every option model of the agent: a misspelt option is an error.
    model_config = ConfigDict(extra="forbid")

    site: str = Field(description="Site id, as in the topic.")
    line: str = Field(description="Line id within the site.")
    device: str = Field(description="Device id within the line.")
    device_type: EquipmentType = Field(description="Equipment type from the catalogue.")
    firmware: str = Field("", description="Firmware of the equipment controller.")
    meta: dict[str, str] = Field(default_factory=dict, description="Vendor, model, serial...")
    batch_s: float = Field(60.0, gt=0, description="Longest a sample waits before its "
                                                   "message is formed.")
    max_samples_per_message: int = Field(1000, ge=1, le=10_000,
                                         description="Samples per data message at most.")
    status_period_s: float = Field(60.0, gt=0, description="Period of status messages.")
    tick_s: float = Field(0.05, gt=0, description="Pause between two rounds of work.")
    queue: QueueSettings = Field(default_factory=QueueSettings)
    replay: ReplaySettings = Field(default_factory=ReplaySettings)
    confirm: ConfirmSettings = Field(default_factory=ConfirmSettings)
    backoff: BackoffSettings = Field(default_factory=BackoffSettings)

    @property
    def device_id(self) -> DeviceId:
        return DeviceId(self.site, self.line, self.device)


@dataclass
class AgentStats:
    samples: int = 0
    messages: int = 0
    acked_messages: int = 0
    acked_samples: int = 0
    connects: int = 0
    resent: int = 0  # data messages sent again because ingest did not confirm them in time


@dataclass
class _Connection:
    session: int
    started_ms: int
    online: bool = False
    opened_at: float = 0.0
    in_flight: dict[int, Row] = field(default_factory=dict)
    # With end-to-end acknowledgement: None until the broker answered the subscription.
    confirming: bool | None = False
    unconfirmed: dict[int, tuple[Row, float]] = field(default_factory=dict)  # seq: row, PUBACK
    last_live: int = 0
    last_historical: int = 0


def client_id(device: DeviceId) -> str:
    """The MQTT client id of a device's agent: one session per device, the id its broker login
    is pinned to (`DeviceId.client_id`)."""
    return device.client_id


class Agent:
    def __init__(self, config: AgentConfig, driver: Driver, mqtt: MqttSettings, clock: Clock,
                 state_dir: Path, *, link: Link | None = None,
                 rng: random.Random | None = None, network_clock: Clock | None = None) -> None:
        """`network_clock` times the connection (connect timeout, backoff, replay rate) and
        defaults to `clock`; a simulation running faster than real time passes the system
        clock, since the broker answers in real time."""
        self.config = config
        self.id = config.device_id
        self._driver = driver
        # What the driver can do beyond reading, checked once: Protocol checks are slow.
        self._events = driver if isinstance(driver, EventSource) else None
        self._device_clock = driver if isinstance(driver, DeviceClock) else None
        self._clock = clock
        self._net = network_clock or clock
        self._metrics = _checked(driver.metrics())
        self.store = Store(state_dir / "queue.sqlite", config.queue)
        self._link = link or PahoLink(mqtt, client_id(self.id))
        self._backoff = Backoff(config.backoff, rng or random.Random())
        self.stats = AgentStats()
        self._conn: _Connection | None = None
        self._next_attempt = self._net.monotonic()
        self._started = clock.monotonic()
        now = clock.now_ms()
        self._due = {m.name: now for m in self._metrics}
        self._period_ms = {m.name: round(m.period_s * 1000) for m in self._metrics}
        self._last_sample_ms = -1
        self._next_status_ms = now
        self._tokens = 0.0
        self._last_refill = self._net.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: str | None = None
        self._replaying = False
        self._next_replay_log = 0.0

    @property
    def online(self) -> bool:
        return self._conn is not None and self._conn.online

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"agent-{self.id.device}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.tick()
                self._clock.sleep(self.config.tick_s)
        except Exception as error:  # the driver, the store's disk: the agent cannot go on
            self.failure = f"{type(error).__name__}: {error}"
            log.exception("agent failed", extra=self._fields(error=self.failure))

    def _fields(self, **values: object) -> dict[str, Mapping[str, object]]:
        return fields(device=self.id.prefix, **values)

    @property
    def backlog(self) -> int:
        """Samples formed into messages and not yet acknowledged by the broker."""
        return self.store.depth - self.store.pending

    def stop(self) -> None:
        """End the thread (if started), say goodbye with a death message, close the store."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._conn is not None and self._conn.online:
            death = DeathMessage(ts=self._clock.now_ms(), session=self._conn.session)
            self._link.publish(self.id.topic(MessageKind.DEATH), encode(death))
        self._link.close()
        self.store.close()

    # ------------------------------------------------------------ one round

    def tick(self) -> None:
        now = self._clock.now_ms()
        self._sample(now)
        self._queue_events(now)
        self._seal_due(now)
        self.deliver()

    def deliver(self) -> None:
        """The network half of a tick: connect, handle acknowledgements, send what is due."""
        now = self._clock.now_ms()
        for event in self._link.poll():
            self._on_link(event, now)
        self._connect_if_due(now)
        self._send(now)

    def flush(self) -> None:
        """Seal every pending sample and event into messages now, whatever the batch period."""
        self._queue_events(self._clock.now_ms())
        while self.store.pending:
            self._seal()

    @property
    def idle(self) -> bool:
        """Nothing pending, nothing queued: everything was acknowledged."""
        return self.store.depth == 0 and self.store.pending == 0

    # ------------------------------------------------------------ sampling

    def _sample(self, now: int) -> None:
        due = [name for name, at in self._due.items() if at <= now]
        if not due or now <= self._last_sample_ms:
            return
        for name in due:
            self._due[name] = max(self._due[name] + self._period_ms[name], now + 1)
        values = self._driver.read(due, now)
        if values:
            self.store.add_sample(Sample(ts=now, values=values))
            self.stats.samples += 1
            self._last_sample_ms = now

    def _queue_events(self, now: int) -> None:
        if self._events is not None:
            for event in self._events.drain_events():
                self.store.add_message(self.id.topic(MessageKind.EVENT), encode(event),
                                       event.ts, not self.online)

    def _seal_due(self, now: int) -> None:
        first = self.store.first_pending_ts()
        while first is not None and (
                now - first >= self.config.batch_s * 1000
                or self.store.pending >= self.config.max_samples_per_message):
            self._seal()
            first = self.store.first_pending_ts()
            self.store.expire(now)

    def _seal(self) -> None:
        historical = not self.online

        def form(seq: int, samples: list[Sample]) -> tuple[str, bytes]:
            message = DataMessage(device_type=self.config.device_type, seq=seq,
                                  samples=samples, historical=historical)
            return self.id.topic(MessageKind.DATA), encode(message)

        if self.store.seal(form, self.config.max_samples_per_message, historical) is not None:
            self.stats.messages += 1

    # ------------------------------------------------------------ connection

    def _connect_if_due(self, now: int) -> None:
        mono = self._net.monotonic()
        if self._conn is not None:
            if not self._conn.online and mono - self._conn.opened_at > CONNACK_TIMEOUT_S:
                self._drop_connection(mono)
            return
        if mono < self._next_attempt:
            return
        conn = _Connection(self.store.new_session(), now, opened_at=mono)
        death = DeathMessage(ts=now, session=conn.session)
        confirm = self.config.confirm.enabled
        try:
            self._link.open(Will(self.id.topic(MessageKind.DEATH), encode(death)),
                            self.id.ack_topic if confirm else None)
        except ConnectFailed as error:
            delay = self._backoff.next_delay()
            self._next_attempt = mono + delay
            log.info("cannot connect", extra=self._fields(
                error=str(error), retry_in_s=round(delay, 1), backlog=self.store.depth))
            return
        self._conn = conn

    def _drop_connection(self, mono: float) -> None:
        self._link.close()
        self._conn = None
        self._next_attempt = mono + self._backoff.next_delay()

    def _on_link(self, event: LinkEvent, now: int) -> None:
        conn = self._conn
        if conn is None:
            return
        if isinstance(event, Connected) and event.accepted:
            conn.online = True
            conn.confirming = None if self.config.confirm.enabled else False
            self._backoff.reset()
            self.stats.connects += 1
            backlog = self.backlog
            self._replaying = backlog > 0
            self._next_replay_log = self._net.monotonic() + REPLAY_LOG_S
            log.info("connected", extra=self._fields(session=conn.session, backlog=backlog))
            self._link.publish(self.id.topic(MessageKind.BIRTH), encode(self._birth(conn, now)),
                               retain=True)
            self._next_status_ms = now
        elif isinstance(event, Disconnected | Connected):
            log.info("disconnected" if conn.online else "connection refused",
                     extra=self._fields(reason=event.reason, backlog=self.store.depth))
            self._drop_connection(self._net.monotonic())
        elif isinstance(event, Acked):
            self._on_ack(conn, event)
        elif isinstance(event, Subscribed):
            conn.confirming = event.accepted
            if not event.accepted:
                log.warning("%s: the broker refused the subscription to %s; data messages "
                            "are deleted on the broker's PUBACK", self.id.prefix,
                            self.id.ack_topic)
        elif event.topic == self.id.ack_topic:
            self._on_confirmation(conn, event)

    def _on_confirmation(self, conn: _Connection, event: Received) -> None:
        """Ingest has these seqs durably: delete them, stop waiting for them."""
        try:
            ranges = decode_ack(event.payload).seqs
        except ContractError as error:
            log.warning("%s: an acknowledgement that breaks the contract: %s", self.id.prefix,
                        error)
            return
        messages, samples = self.store.confirm(ranges)
        self.stats.acked_messages += messages
        self.stats.acked_samples += samples

        def confirmed(row: Row) -> bool:
            return row.seq is not None and any(a <= row.seq <= b for a, b in ranges)

        for seq in [seq for seq, (row, _) in conn.unconfirmed.items() if confirmed(row)]:
            del conn.unconfirmed[seq]
        for mid in [mid for mid, row in conn.in_flight.items() if confirmed(row)]:
            del conn.in_flight[mid]  # its PUBACK, when it comes, finds nothing to do

    def _on_ack(self, conn: _Connection, event: Acked) -> None:
        row = conn.in_flight.pop(event.mid, None)
        if row is None:
            return
        if event.accepted and conn.confirming and row.seq is not None:
            conn.unconfirmed[row.seq] = (row, self._net.monotonic())  # until ingest confirms
        elif event.accepted:
            self.store.ack(row.id)
            self.stats.acked_messages += row.samples > 0
            self.stats.acked_samples += row.samples
        elif event.retry:
            # Sent again on the next connection; the broker may accept it then.
            pass
        else:
            self.store.reject(row.id)

    def _birth(self, conn: _Connection, now: int) -> BirthMessage:
        return BirthMessage(
            ts=now, session=conn.session, device_type=self.config.device_type,
            next_seq=self.store.next_seq, metrics=list(self._metrics), meta=self.config.meta,
            agent=AgentInfo(name=AGENT_NAME, version=AGENT_VERSION,
                            firmware=self.config.firmware))

    # ------------------------------------------------------------ sending

    def _send(self, now: int) -> None:
        conn = self._conn
        if conn is None or not conn.online:
            return
        self._send_status(conn, now)
        if conn.confirming is None:  # data waits for the subscription to confirmations
            return
        self._resend_unconfirmed(conn)
        for row in self.store.due(False, conn.last_live, self._room(conn)):
            conn.last_live = row.id
            self._publish(conn, row)
        self._replay(conn)
        self._report_replay()

    def _report_replay(self) -> None:
        """A line every `REPLAY_LOG_S` while the backlog drains, and one when it is empty."""
        if not self._replaying or self._net.monotonic() < self._next_replay_log:
            return
        self._next_replay_log = self._net.monotonic() + REPLAY_LOG_S
        backlog = self.backlog
        self._replaying = backlog > 0
        log.info("replaying" if backlog else "replay done",
                 extra=self._fields(backlog=backlog, acked_samples=self.stats.acked_samples))

    def _room(self, conn: _Connection) -> int:
        """Messages that may still be sent: sent ones wait for PUBACK or for confirmation."""
        waiting = len(conn.in_flight) + len(conn.unconfirmed)
        return max(0, self.config.replay.max_in_flight - waiting)

    def _resend_unconfirmed(self, conn: _Connection) -> None:
        """Send again what ingest has not confirmed within the timeout (oldest first)."""
        due = self._net.monotonic() - self.config.confirm.timeout_s
        late = [seq for seq, (_, acked_at) in conn.unconfirmed.items() if acked_at <= due]
        for seq in late:
            row, _ = conn.unconfirmed.pop(seq)
            self._publish(conn, row)
            self.stats.resent += 1

    def _replay(self, conn: _Connection) -> None:
        mono = self._net.monotonic()
        rate = self.config.replay.samples_per_s
        self._tokens = min(rate, self._tokens + (mono - self._last_refill) * rate)
        self._last_refill = mono
        room = self._room(conn)
        if self._tokens <= 0 or room <= 0:
            return
        for row in self.store.due(True, conn.last_historical, room):
            conn.last_historical = row.id
            self._publish(conn, row)
            self._tokens -= max(row.samples, 1)
            if self._tokens <= 0:
                return

    def _publish(self, conn: _Connection, row: Row) -> None:
        mid = self._link.publish(row.topic, row.payload)
        if mid is not None:
            conn.in_flight[mid] = row

    def _send_status(self, conn: _Connection, now: int) -> None:
        if now < self._next_status_ms:
            return
        self._next_status_ms = now + round(self.config.status_period_s * 1000)
        status = StatusMessage(
            ts=now, session=conn.session, queue_depth=self.store.depth,
            oldest_queued_ts=self.store.oldest_ts(), dropped=self.store.dropped,
            agent_version=AGENT_VERSION, firmware=self.config.firmware,
            clock_offset_ms=self._clock_offset_ms(now),
            uptime_s=max(0.0, self._clock.monotonic() - self._started))
        self._link.publish(self.id.topic(MessageKind.STATUS), encode(status))


    def _clock_offset_ms(self, now: int) -> int | None:
        """The machine's clock minus the agent's (NTP-synchronised) one, if it has a clock."""
        if self._device_clock is not None:
            return self._device_clock.device_time_ms() - now
        return None


def _checked(metrics: Sequence[MetricDeclaration]) -> tuple[MetricDeclaration, ...]:
    names = [m.name for m in metrics]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"a driver must declare at least one metric, each once; got {names}")
    return tuple(metrics)
