"""Drivers: how an agent reads its machine. A driver declares its metrics and reads them.

The agent owns timing, batching and delivery; a driver only answers "what do these metrics
show now". Write one for a new machine by implementing `Driver`, or wrap a function in
`CallableDriver`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from contract import CATALOGUE, EquipmentType, EventMessage, MetricDeclaration

Reading = dict[str, float | str]

PLUGIN_GROUP = "loopmeter.drivers"
"""Entry-point group of driver plug-ins: a package adds a driver kind without this one
importing it (the simulator registers `simulator` in pyproject.toml)."""


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


class DriverFactory(Protocol):
    """A plug-in's driver: built from its config section, for one device type and metrics."""

    def __call__(self, options: Any, device_type: EquipmentType,
                 declarations: Sequence[MetricDeclaration], now_ms: int) -> Driver: ...


class UnknownDriver(LookupError):
    pass


def plugin_factory(kind: str) -> DriverFactory:
    """The factory registered for driver `kind` under the `loopmeter.drivers` entry points."""
    found = entry_points(group=PLUGIN_GROUP, name=kind)
    if not found:
        raise UnknownDriver(f"no driver plug-in {kind!r} is installed "
                            f"(entry points of group {PLUGIN_GROUP!r})")
    factory: DriverFactory = next(iter(found)).load()
    return factory
