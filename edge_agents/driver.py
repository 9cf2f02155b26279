"""Drivers: how an agent reads its machine. A driver declares its metrics and reads them.

The agent owns timing, batching and delivery; a driver only answers "what do these metrics
show now". Write one for a new machine by implementing `Driver`, or wrap a function in
`CallableDriver`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from contract import CATALOGUE, EquipmentType, EventMessage, MetricDeclaration

if TYPE_CHECKING:  # a Modbus or callable agent needs none of the simulator
    from simulators.device import SimDevice
    from simulators.plant import Plant

Reading = dict[str, float | str]


class Driver(Protocol):
    def metrics(self) -> Sequence[MetricDeclaration]:
        """Every metric the driver can read, with unit, kind, period and range."""
        ...

    def read(self, names: Sequence[str], now_ms: int) -> Reading:
        """The current values of `names`; a metric that cannot be read now is left out."""
        ...


@runtime_checkable
class EventSource(Protocol):
    """A driver that also reports events (counter resets, meter replacements, faults)."""

    def drain_events(self) -> list[EventMessage]: ...


@runtime_checkable
class DeviceClock(Protocol):
    """A driver that can read the machine's own clock; status reports its offset."""

    def device_time_ms(self) -> int: ...


def declare(
    device_type: EquipmentType, name: str, period_s: float
) -> MetricDeclaration:
    """The declaration of a catalogue metric: unit, kind and range come from the catalogue."""
    spec = CATALOGUE[device_type].by_name.get(name)
    if spec is None:
        known = ", ".join(CATALOGUE[device_type].by_name)
        raise ValueError(f"{name!r} is not a {device_type.value} metric (known: {known}); "
                         "declare custom metrics (x_...) with their unit and kind")
    return MetricDeclaration.of(spec, period_s)


class CallableDriver:
    """A driver around a plain function `read(names, now_ms) -> {name: value}`."""

    def __init__(self, metrics: Sequence[MetricDeclaration],
                 read: Callable[[Sequence[str], int], Reading]) -> None:
        self._metrics = tuple(metrics)
        self._read = read

    def metrics(self) -> Sequence[MetricDeclaration]:
        return self._metrics

    def read(self, names: Sequence[str], now_ms: int) -> Reading:
        return self._read(names, now_ms)


class SimulatorDriver:
    """Reads a simulated device of `simulators`, as a gateway reads a real one."""

    def __init__(self, device: SimDevice) -> None:
        self.device = device
        self._metrics = tuple(declare(device.type, m.name, device.period_s[m.name])
                              for m in device.metrics)

    def metrics(self) -> Sequence[MetricDeclaration]:
        return self._metrics

    def read(self, names: Sequence[str], now_ms: int) -> Reading:
        reading = self.device.read()
        return {name: reading[name] for name in names if name in reading}

    def drain_events(self) -> list[EventMessage]:
        return self.device.drain_events()

    def device_time_ms(self) -> int:
        return self.device.now_ms()


class PlantDriver(SimulatorDriver):
    """A device of a simulated plant that runs on the agent's own clock.

    Each read first advances the whole plant to the time of the read, so an agent started
    from a YAML file can be tried, and checked for conformance, without the hardware.
    """

    def __init__(self, plant: Plant, key: str, metrics: Sequence[MetricDeclaration]) -> None:
        super().__init__(plant.device(key))
        self._plant = plant
        self._metrics = tuple(metrics)
        self._read_at_ms = plant.now_ms

    def read(self, names: Sequence[str], now_ms: int) -> Reading:
        self._plant.advance_to(now_ms)
        self._read_at_ms = now_ms
        return super().read(names, now_ms)

    def device_time_ms(self) -> int:
        # The plant moves in whole steps; its device clock's skew is what the agent reports.
        return self._read_at_ms + self.device.now_ms() - self._plant.now_ms
