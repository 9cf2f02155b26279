"""The Modbus driver reads the simulated three-phase meter over real Modbus TCP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from contract import EquipmentType
from edge_agents.driver import declare
from edge_agents.modbus import ModbusDriver, RegisterSpec, RegisterType
from loopmeter.services import free_ports
from simulators.modbus import MeterServer

pytestmark = pytest.mark.integration
METER = EquipmentType.ELECTRICITY_METER
READING = {"power_kw": 123.456, "energy_kwh": 98_765.4, "current_a": 180.5,
           "voltage_v": 400.0, "power_factor": 0.93}
# The meter's own map (simulators/registers.py): float32 and uint32, high word first.
REGISTERS = [
    RegisterSpec(metric="power_kw", address=0x0034, scale=0.001),
    RegisterSpec(metric="power_factor", address=0x003E, table="holding"),
    RegisterSpec(metric="energy_kwh", address=0x0500, type=RegisterType.UINT32, scale=0.1),
]


@pytest.fixture
def meter_port() -> Iterator[int]:
    """A simulated meter served from its own event loop, as a device on the network is."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = MeterServer(lambda: READING)
    try:
        yield asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _driver(port: int) -> ModbusDriver:
    metrics = [declare(METER, r.metric, 1.0) for r in REGISTERS]
    return ModbusDriver(metrics, REGISTERS, "127.0.0.1", port, timeout_s=2.0)


def test_reads_floats_and_scaled_integers_from_input_and_holding_registers(
        meter_port: int) -> None:
    driver = _driver(meter_port)
    try:
        reading = driver.read(["power_kw", "power_factor", "energy_kwh"], 0)
    finally:
        driver.close()
    assert reading["power_kw"] == pytest.approx(123.456, rel=1e-6)
    assert reading["power_factor"] == pytest.approx(0.93, rel=1e-6)
    assert reading["energy_kwh"] == pytest.approx(98_765.4, abs=0.05)
    assert driver.errors == 0


def test_an_unreachable_meter_leaves_metrics_out_and_counts_errors() -> None:
    (port,) = free_ports(1)
    driver = _driver(port)
    try:
        assert driver.read(["power_kw", "energy_kwh"], 0) == {}
    finally:
        driver.close()
    assert driver.errors == 2


def test_word_order_little_swaps_the_words(meter_port: int) -> None:
    swapped = [RegisterSpec(metric="energy_kwh", address=0x0500, type=RegisterType.UINT32,
                            scale=0.1, word_order="little")]
    driver = ModbusDriver([declare(METER, "energy_kwh", 1.0)], swapped, "127.0.0.1",
                          meter_port, timeout_s=2.0)
    try:
        value = driver.read(["energy_kwh"], 0)["energy_kwh"]
    finally:
        driver.close()
    raw = 987_654
    assert value == pytest.approx((((raw & 0xFFFF) << 16) | (raw >> 16)) * 0.1)
