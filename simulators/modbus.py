"""Serve a simulated electricity meter over Modbus TCP (pymodbus), as real hardware would.

Every request refreshes the register block from the device's current reading, so a client
sees exactly what `device.read()` shows (faults included). Registers are read-only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import cast

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from adapters.errors import PortInUse
from simulators.registers import METER_MAP, SPAN, RegisterField, encode_reading

Reader = Callable[[], Mapping[str, float | str]]


class MeterServer:
    """A Modbus TCP server for one meter: `await start()`, then clients read; `await stop()`."""

    def __init__(
        self, read: Reader, host: str = "127.0.0.1", port: int = 0, unit_id: int = 1,
        fields: tuple[RegisterField, ...] = METER_MAP,
    ) -> None:
        self._read = read
        self._address = (host, port)
        self._unit_id = unit_id
        self._fields = fields
        self._server: ModbusTcpServer | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        sockets = cast(asyncio.Server, self._server.transport).sockets
        return int(sockets[0].getsockname()[1])

    async def start(self) -> int:
        """Listen; return the bound port."""
        block = SimData(0, count=SPAN, values=0, datatype=DataType.REGISTERS, readonly=True)
        device = SimDevice(self._unit_id, simdata=[block], action=self._refresh)
        self._server = ModbusTcpServer(device, address=self._address)
        try:
            await self._server.serve_forever(background=True)
        except RuntimeError as error:  # pymodbus's only word for a port it could not bind
            self._server = None
            raise PortInUse(self._address[1], "--port (0 picks a free one)") from error
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    async def _refresh(
        self, function_code: int, start_address: int, address: int, count: int,
        registers: list[int], set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION
        block = encode_reading(self._read(), self._fields)
        registers[:] = block[start_address:start_address + len(registers)]
        return None
