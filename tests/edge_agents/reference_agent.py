"""The reference agent of the conformance tests: an electricity meter read by a function.

Run as a script (`python -m tests.edge_agents.reference_agent URL SITE/LINE/DEVICE STATE`)
it publishes until killed, for tests that `kill -9` it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from adapters.clock import Clock, SystemClock
from adapters.mqtt import MqttSettings
from contract import DeviceId, EquipmentType, MetricDeclaration, MetricKind
from edge_agents.agent import Agent, AgentConfig
from edge_agents.driver import CallableDriver, Reading, declare

METER = EquipmentType.ELECTRICITY_METER
Read = Callable[[Sequence[str], int], Reading]


def rising(names: Sequence[str], now_ms: int) -> Reading:
    return {"power_kw": 42.0, "energy_kwh": 1000.0 + (now_ms % 10**9) / 1000}


def reference_agent(url: str, device: DeviceId, state: Path, *, clock: Clock | None = None,
                    read: Read = rising, power_unit: str = "kW") -> Agent:
    """Samples every 0.2 s, sends every 0.5 s, reports status every second."""
    config = AgentConfig(site=device.site, line=device.line, device=device.device,
                         device_type=METER, batch_s=0.5, status_period_s=1.0, tick_s=0.02)
    metrics = [declare(METER, "energy_kwh", 0.2),
               MetricDeclaration(name="power_kw", unit=power_unit, kind=MetricKind.GAUGE,
                                 period_s=0.2)]
    return Agent(config, CallableDriver(metrics, read), MqttSettings(url=url),
                 clock or SystemClock(), state)


def main(url: str, device: str, state: str) -> None:
    agent = reference_agent(url, DeviceId(*device.split("/")), Path(state))
    agent.start()
    SystemClock().sleep(3600)


if __name__ == "__main__":
    main(*sys.argv[1:4])
