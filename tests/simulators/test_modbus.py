"""A real pymodbus client reads the simulated meter exactly as it would read hardware."""

from __future__ import annotations

import asyncio
import math

import pytest
from pymodbus.client import AsyncModbusTcpClient

from simulators import Plant, load_scenario
from simulators.modbus import MeterServer
from simulators.registers import METER_MAP, SPAN, decode_metrics, decode_value, encode_reading

FLOAT32 = AsyncModbusTcpClient.DATATYPE.FLOAT32
UINT32 = AsyncModbusTcpClient.DATATYPE.UINT32


def meter_after(hours: int) -> Plant:
    scenario = load_scenario("construction-waste")
    plant = Plant.from_scenario(scenario, seed=8)
    plant.advance_to(scenario.start_ms + hours * 3_600_000)
    return plant


async def read_fields(port: int) -> dict[str, float]:
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    try:
        values = {}
        for field in METER_MAP:
            response = await client.read_input_registers(field.address, count=2, device_id=1)
            assert not response.isError(), field.name
            kind = FLOAT32 if field.encoding == "float32" else UINT32
            values[field.name] = _number(client.convert_from_registers(response.registers, kind))
        holding = await client.read_holding_registers(0x0048, count=2, device_id=1)
        values["holding_energy"] = _number(
            client.convert_from_registers(holding.registers, FLOAT32))
        rejected = await client.write_registers(0x0048, [0, 0], device_id=1)
        values["write_rejected"] = float(rejected.isError())
        return values
    finally:
        client.close()


def _number(value: object) -> float:
    assert isinstance(value, int | float)
    return float(value)


async def serve_and_read(plant: Plant, advance_hours: int) -> tuple[dict[str, float], ...]:
    meter = plant.device("fixed/main-meter")
    server = MeterServer(meter.read)
    port = await server.start()
    try:
        first = await read_fields(port)
        expected_first = meter.read()
        plant.advance_to(plant.now_ms + advance_hours * 3_600_000)
        second = await read_fields(port)
        return first, {k: float(v) for k, v in expected_first.items()}, second, \
            {k: float(v) for k, v in meter.read().items()}
    finally:
        await server.stop()


@pytest.mark.integration
def test_a_modbus_client_reads_what_the_meter_shows() -> None:
    plant = meter_after(10)
    first, shown_first, second, shown_second = asyncio.run(serve_and_read(plant, 2))
    for read, shown in ((first, shown_first), (second, shown_second)):
        assert read["total_system_power"] == pytest.approx(shown["power_kw"] * 1000, rel=1e-6)
        assert read["total_import_energy"] == pytest.approx(shown["energy_kwh"], rel=1e-6)
        assert read["total_import_energy_0_1kwh"] == round(shown["energy_kwh"] * 10)
        assert read["line_1_to_line_2_voltage"] == pytest.approx(shown["voltage_v"], rel=1e-6)
        assert read["phase_1_voltage"] == pytest.approx(shown["voltage_v"] / math.sqrt(3),
                                                        rel=1e-6)
        assert read["average_line_current"] == pytest.approx(shown["current_a"], rel=1e-6)
        assert read["total_system_power_factor"] == pytest.approx(shown["power_factor"],
                                                                  rel=1e-6)
        assert read["frequency"] == 50.0
        assert read["holding_energy"] == read["total_import_energy"]
        assert read["write_rejected"] == 1.0
    assert second["total_import_energy"] > first["total_import_energy"]


def test_the_register_map_round_trips_the_catalogue_metrics() -> None:
    reading = {"power_kw": 512.25, "energy_kwh": 123456.5, "voltage_v": 401.5,
               "current_a": 800.75, "power_factor": 0.875}
    block = encode_reading(reading)
    assert len(block) == SPAN
    assert all(0 <= word <= 0xFFFF for word in block)
    assert decode_metrics(block) == pytest.approx(reading, rel=1e-6)
    assert decode_value([0x4248, 0x0000], METER_MAP[0].encoding) == 50.0
