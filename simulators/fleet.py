"""A fleet: one agent per device of a simulated plant, advanced with the plant's clock.

This is what `loopmeter sim run` uses to put a whole plant on the broker as real agents
would: each device gets its own agent, queue and MQTT connection. Network-drop faults cut
a device's connection for their window, so its agent stores and forwards.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from adapters.backoff import BackoffSettings
from adapters.clock import Clock, SystemClock
from adapters.mqtt import ConnectFailed, MqttSettings, Will
from edge_agents.agent import Agent, AgentConfig, ConfirmSettings, client_id
from edge_agents.link import Disconnected, Link, LinkEvent, PahoLink
from simulators.device import SimDevice
from simulators.driver import SimulatorDriver
from simulators.faults import Fault, FaultKind
from simulators.plant import Plant

# The broker answers in real time however fast the plant's clock runs: agents time their
# connection (connect timeout, backoff, replay rate) on the system clock, and retry quickly
# so that a reconnect lags a simulated outage by little plant time.
DRAIN_POLL_S = 0.05  # real seconds between two delivering rounds of the drain
NETWORK_CLOCK = SystemClock()
FLEET_BACKOFF = BackoffSettings(initial_s=0.01, max_s=0.05)


@dataclass(frozen=True, slots=True)
class DeviceProgress:
    key: str
    samples: int
    messages: int
    acked_messages: int
    acked_samples: int
    queued_samples: int
    online: bool


@dataclass(frozen=True, slots=True)
class FleetProgress:
    now_ms: int
    devices: tuple[DeviceProgress, ...]

    @property
    def messages(self) -> int:
        return sum(d.messages for d in self.devices)

    @property
    def acked_messages(self) -> int:
        return sum(d.acked_messages for d in self.devices)


@dataclass(frozen=True, slots=True)
class FleetResult:
    """Per device ("line/device"): what was sampled, formed and acknowledged."""

    progress: FleetProgress
    drained: bool

    @property
    def devices(self) -> dict[str, DeviceProgress]:
        return {d.key: d for d in self.progress.devices}


class OutageLink:
    """A link that is down while any of the given faults is active, as a cut cable is."""

    def __init__(self, inner: Link, outages: Sequence[Fault], clock: Clock) -> None:
        self._inner = inner
        self._outages = tuple(outages)
        self._clock = clock
        self._open = False

    def _down(self) -> bool:
        now = self._clock.now_ms()
        return any(outage.active(now) for outage in self._outages)

    def open(self, will: Will, subscribe: str | None = None) -> None:
        if self._down():
            raise ConnectFailed("network down (simulated outage)")
        self._inner.open(will, subscribe)
        self._open = True

    def close(self) -> None:
        self._open = False
        self._inner.close()

    def poll(self) -> list[LinkEvent]:
        if self._open and self._down():
            self.close()
            return [Disconnected("network down (simulated outage)")]
        return self._inner.poll()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        return None if self._down() else self._inner.publish(topic, payload, retain)


def agent_config(device: SimDevice, batch_s: float = 60.0, confirm: bool = True) -> AgentConfig:
    return AgentConfig(site=device.id.site, line=device.id.line, device=device.id.device,
                       device_type=device.type, firmware="sim", batch_s=batch_s,
                       meta=device.meta, backoff=FLEET_BACKOFF,
                       confirm=ConfirmSettings(enabled=confirm))


def run_fleet(
    plant: Plant, mqtt: MqttSettings, clock: Clock, duration_s: float, state_dir: Path,
    progress: Callable[[FleetProgress], None] | None = None,
    link_faults: Sequence[Fault] | None = None, *, drain_s: float = 10.0,
    batch_s: float = 60.0, ready: Callable[[], None] | None = None, confirm: bool = True,
) -> FleetResult:
    """Run the plant for `duration_s` of clock time with an agent per device.

    Each round samples, then sleeps one round on `clock`: with a stepped clock
    (`SimulatedClock`) the plant moves by exactly a round each time, so what the fleet
    samples does not depend on how fast or busy the machine is. `ready` is called once the
    agents exist, before the clock is read: a simulated clock restarts its pace there.

    At the end every agent seals what it sampled and the fleet waits until everything is
    acknowledged (with `confirm`, by ingest; else by the broker), or until `drain_s` real
    seconds pass without an acknowledgement.
    """
    agents = [_agent(device, mqtt, clock, state_dir, link_faults or (), batch_s, confirm)
              for device in plant.devices]
    if ready is not None:
        ready()
    end_ms = clock.now_ms() + round(duration_s * 1000)
    step_s = round_s(plant)
    try:
        reached = plant.now_ms
        while reached < end_ms:  # the last round takes the plant to the end exactly
            reached = min(end_ms, clock.now_ms())
            _round(plant, agents, clock, progress, reached, step_s)
        for agent in agents:
            agent.flush()
        _drain(plant, agents, clock, progress, drain_s, step_s)
        return FleetResult(_progress(agents, clock.now_ms()), all(a.idle for a in agents))
    finally:
        for agent in agents:
            agent.stop()


def round_s(plant: Plant) -> float:
    """Clock seconds between two rounds over the fleet: the plant's step, or the shortest
    sampling period if shorter, so that every sample falls due on a round."""
    periods = [period for device in plant.devices for period in device.period_s.values()]
    return min([plant.step_ms / 1000, *periods])


def _drain(plant: Plant, agents: list[Agent], clock: Clock,
           progress: Callable[[FleetProgress], None] | None, stall_s: float,
           step_s: float) -> None:
    acked, since = -1, NETWORK_CLOCK.monotonic()
    while not all(a.idle for a in agents) and NETWORK_CLOCK.monotonic() - since < stall_s:
        if sum(a.stats.acked_messages for a in agents) != acked:
            acked, since = sum(a.stats.acked_messages for a in agents), NETWORK_CLOCK.monotonic()
        _round(plant, agents, clock, progress, None, step_s)


def _round(plant: Plant, agents: list[Agent], clock: Clock,
           progress: Callable[[FleetProgress], None] | None, advance_to: int | None,
           step_s: float) -> None:
    """Advance the plant and tick every agent; without `advance_to`, only deliver.

    Delivering rounds (the drain after the end) wait in real time and leave plant time at
    the end: a reconnecting agent's birth is never dated after the run (a run that ends
    now would otherwise leave births dated in the future, retained by the broker).
    """
    if advance_to is not None:
        plant.advance_to(advance_to)
    for agent in agents:
        if advance_to is None:
            agent.deliver()
        else:
            agent.tick()
    if progress is not None:
        progress(_progress(agents, clock.now_ms()))
    if advance_to is None:
        NETWORK_CLOCK.sleep(DRAIN_POLL_S)
    else:
        clock.sleep(step_s)


def _agent(device: SimDevice, mqtt: MqttSettings, clock: Clock, state_dir: Path,
           faults: Sequence[Fault], batch_s: float, confirm: bool) -> Agent:
    config = agent_config(device, batch_s, confirm)
    outages = [f for f in faults if f.kind is FaultKind.NETWORK_DROP and f.targets(device.key)]
    link = OutageLink(PahoLink(mqtt, client_id(device.id)), outages, clock)
    return Agent(config, SimulatorDriver(device), mqtt, clock,
                 state_dir / device.key.replace("/", "-"), link=link,
                 rng=random.Random(device.key), network_clock=NETWORK_CLOCK)


def _progress(agents: list[Agent], now_ms: int) -> FleetProgress:
    return FleetProgress(now_ms, tuple(
        DeviceProgress(f"{a.id.line}/{a.id.device}", a.stats.samples, a.stats.messages,
                       a.stats.acked_messages, a.stats.acked_samples, a.store.depth, a.online)
        for a in agents))
