"""The simulator as an agent driver: a simulated device read as a gateway reads a real one.

Registered as the `simulator` driver plug-in (`loopmeter.drivers` entry point), so the agent
runtime finds it by kind without importing this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from contract import EquipmentType, EventMessage, MetricDeclaration
from edge_agents.config import ConfigError, SimulatorDriverConfig
from edge_agents.driver import Reading, declare
from simulators.device import SimDevice
from simulators.plant import Plant
from simulators.scenario import load_scenario


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


def plant_driver(config: SimulatorDriverConfig, device_type: EquipmentType,
                  declarations: Sequence[MetricDeclaration], now_ms: int) -> PlantDriver:
    start = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat()
    try:
        scenario = load_scenario(config.scenario).overridden(start=start)
    except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        raise ConfigError(f"driver.scenario: {error}") from error
    plant = Plant.from_scenario(scenario, config.seed)
    keys = [device.key for device in plant.devices]
    if config.device not in keys:
        raise ConfigError(f"driver.device: {config.device!r} is not in scenario "
                          f"{config.scenario!r} (devices: {', '.join(keys)})")
    device = plant.device(config.device)
    if device.type is not device_type:
        raise ConfigError(f"driver.device: {config.device} is a {device.type.value}, but "
                          f"agent.device_type says {device_type.value}")
    missing = sorted({d.name for d in declarations} - {m.name for m in device.metrics})
    if missing:
        raise ConfigError(f"metrics: {config.device} does not measure {missing} (it measures "
                          f"{', '.join(m.name for m in device.metrics)})")
    return PlantDriver(plant, config.device, declarations)
