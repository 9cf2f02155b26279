"""The Modbus register map of the simulated three-phase energy meter, as data.

Modelled on the input-register layout common to DIN-rail three-phase meters (the Eastron
SDM630 family and its many look-alikes): IEEE-754 32-bit floats, big-endian words (high word
first), zero-based PDU addresses, read with function code 04 (the simulator also answers 03
with the same values). One extra 32-bit unsigned register carries the import energy in
0.1 kWh steps, as meters with integer registers do.

An edge agent's Modbus driver can be configured with `METER_MAP`: a field with a `metric`
and `primary=True` is that catalogue metric, value = raw x scale.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

WORD_ORDER = "big"


class Encoding(StrEnum):
    FLOAT32 = "float32"
    UINT32 = "uint32"


@dataclass(frozen=True, slots=True)
class RegisterField:
    """Two 16-bit registers at `address` holding `metric` / `scale` (or `constant`)."""

    address: int
    name: str
    unit: str
    encoding: Encoding = Encoding.FLOAT32
    metric: str | None = None
    scale: float = 1.0
    primary: bool = False
    constant: float | None = None

    @property
    def words(self) -> int:
        return 2


SQRT3 = math.sqrt(3)
METER_MAP: tuple[RegisterField, ...] = (
    RegisterField(0x0000, "phase_1_voltage", "V", metric="voltage_v", scale=SQRT3),
    RegisterField(0x0002, "phase_2_voltage", "V", metric="voltage_v", scale=SQRT3),
    RegisterField(0x0004, "phase_3_voltage", "V", metric="voltage_v", scale=SQRT3),
    RegisterField(0x0006, "phase_1_current", "A", metric="current_a"),
    RegisterField(0x0008, "phase_2_current", "A", metric="current_a"),
    RegisterField(0x000A, "phase_3_current", "A", metric="current_a"),
    RegisterField(0x000C, "phase_1_power", "W", metric="power_kw", scale=0.003),
    RegisterField(0x000E, "phase_2_power", "W", metric="power_kw", scale=0.003),
    RegisterField(0x0010, "phase_3_power", "W", metric="power_kw", scale=0.003),
    RegisterField(0x002E, "average_line_current", "A", metric="current_a", primary=True),
    RegisterField(0x0034, "total_system_power", "W", metric="power_kw", scale=0.001,
                  primary=True),
    RegisterField(0x003E, "total_system_power_factor", "", metric="power_factor", primary=True),
    RegisterField(0x0046, "frequency", "Hz", constant=50.0),
    RegisterField(0x0048, "total_import_energy", "kWh", metric="energy_kwh", primary=True),
    RegisterField(0x00C8, "line_1_to_line_2_voltage", "V", metric="voltage_v", primary=True),
    RegisterField(0x00CA, "line_2_to_line_3_voltage", "V", metric="voltage_v"),
    RegisterField(0x00CC, "line_3_to_line_1_voltage", "V", metric="voltage_v"),
    RegisterField(0x0156, "total_energy", "kWh", metric="energy_kwh"),
    RegisterField(0x0500, "total_import_energy_0_1kwh", "0.1 kWh", Encoding.UINT32,
                  metric="energy_kwh", scale=0.1),
)
SPAN = max(f.address + f.words for f in METER_MAP)


def encode_value(value: float, encoding: Encoding) -> list[int]:
    """Two registers, high word first."""
    if encoding is Encoding.FLOAT32:
        packed = struct.pack(">f", value)
    else:
        packed = struct.pack(">I", max(0, min(0xFFFFFFFF, round(value))))
    high, low = struct.unpack(">HH", packed)
    return [high, low]


def decode_value(words: Sequence[int], encoding: Encoding) -> float:
    packed = struct.pack(">HH", words[0], words[1])
    return float(struct.unpack(">f" if encoding is Encoding.FLOAT32 else ">I", packed)[0])


def raw_value(field: RegisterField, reading: Mapping[str, float | str]) -> float:
    """What a field holds for a meter reading (metric / scale)."""
    if field.constant is not None:
        return field.constant
    value = reading.get(field.metric or "", 0.0)
    return float(value) / field.scale if isinstance(value, int | float) else 0.0


def encode_reading(reading: Mapping[str, float | str],
                   fields: Sequence[RegisterField] = METER_MAP) -> list[int]:
    """The whole register block (addresses 0..SPAN-1; unmapped registers are 0)."""
    block = [0] * SPAN
    for field in fields:
        block[field.address:field.address + field.words] = encode_value(
            raw_value(field, reading), field.encoding)
    return block


def decode_metrics(block: Sequence[int],
                   fields: Sequence[RegisterField] = METER_MAP) -> dict[str, float]:
    """Catalogue metrics from a register block, from the primary fields."""
    return {field.metric: decode_value(block[field.address:field.address + 2], field.encoding)
            * field.scale for field in fields if field.primary and field.metric}
