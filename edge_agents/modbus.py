"""Modbus TCP driver (pymodbus): metrics read from registers described in the config.

pymodbus's failures are translated here: a metric whose registers cannot be read is left
out of the reading (the agent sends what it has) and counted in `errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from contract import MetricDeclaration
from edge_agents.driver import Reading


class RegisterType(StrEnum):
    UINT16 = "uint16"
    INT16 = "int16"
    UINT32 = "uint32"
    INT32 = "int32"
    FLOAT32 = "float32"
    UINT64 = "uint64"
    FLOAT64 = "float64"


WORDS = {RegisterType.UINT16: 1, RegisterType.INT16: 1, RegisterType.UINT32: 2,
         RegisterType.INT32: 2, RegisterType.FLOAT32: 2, RegisterType.UINT64: 4,
         RegisterType.FLOAT64: 4}


class RegisterSpec(BaseModel):
    """Where one metric lives: value = register value x scale."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="The metric this register holds.")
    address: int = Field(ge=0, le=65535, description="Zero-based PDU address.")
    type: RegisterType = Field(RegisterType.FLOAT32, description="How the words encode it.")
    scale: float = Field(1.0, description="Multiplier from the raw value to the metric's unit.")
    word_order: Literal["big", "little"] = Field("big", description="big: high word first.")
    table: Literal["input", "holding"] = Field("input", description="Function 04 or 03.")


class ModbusDriver:
    def __init__(self, metrics: Sequence[MetricDeclaration], registers: Sequence[RegisterSpec],
                 host: str, port: int = 502, unit_id: int = 1, timeout_s: float = 3.0) -> None:
        self._metrics = tuple(metrics)
        self._registers = {r.metric: r for r in registers}
        self._unit_id = unit_id
        self._client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)
        self.errors = 0

    def metrics(self) -> Sequence[MetricDeclaration]:
        return self._metrics

    def read(self, names: Sequence[str], now_ms: int) -> Reading:
        reading: Reading = {}
        for name in names:
            value = self._read_one(self._registers[name])
            if value is not None:
                reading[name] = value
        return reading

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    def _read_one(self, spec: RegisterSpec) -> float | None:
        read = (self._client.read_input_registers if spec.table == "input"
                else self._client.read_holding_registers)
        try:
            if not self._client.connected and not self._client.connect():  # type: ignore[no-untyped-call]
                raise ModbusException("cannot connect")
            response = read(spec.address, count=WORDS[spec.type], device_id=self._unit_id)
            if response.isError():
                raise ModbusException(str(response))
        except ModbusException:
            self.errors += 1
            return None
        data_type = getattr(ModbusTcpClient.DATATYPE, spec.type.name)
        raw = ModbusTcpClient.convert_from_registers(response.registers, data_type,
                                                     word_order=spec.word_order)
        return float(raw) * spec.scale  # type: ignore[arg-type]
