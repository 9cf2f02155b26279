"""Ground truth: what each device really did, per interval of simulated time.

`GroundTruthRecorder` is pure accumulation (cumulative true totals differenced at interval
boundaries); `TruthWriter` appends rows and fault records to a CSV or JSON Lines file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from contract import CATALOGUE, DeviceId, EquipmentType, Role
from simulators.faults import FaultRecord

ROLE_COLUMNS = {
    Role.ELECTRICITY: "electricity_kwh", Role.NATURAL_GAS: "natural_gas_nm3",
    Role.DIESEL: "diesel_kg", Role.COKE_REDUCTANT: "coke_kg", Role.MASS_IN: "input_t",
    Role.MASS_PRODUCT: "output_t", Role.MASS_RESIDUE: "residue_t", Role.MASS_THROUGH: "through_t",
    Role.UNITS: "units",
}
LOSS_COLUMN = "loss_t"
COLUMNS = (*ROLE_COLUMNS.values(), LOSS_COLUMN)


def column_of(equipment: EquipmentType, flow: str) -> str:
    """The truth column a model's flow adds to (by the metric's role in the catalogue)."""
    if flow == LOSS_COLUMN:
        return LOSS_COLUMN
    return ROLE_COLUMNS[CATALOGUE[equipment].by_name[flow].role]


def empty_totals() -> dict[str, float]:
    return dict.fromkeys(COLUMNS, 0.0)


class Observed(Protocol):
    """What the recorder needs of a device."""

    id: DeviceId
    type: EquipmentType
    totals: dict[str, float]
    measures: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TruthRow:
    """One device's true quantities over [start_ms, end_ms). Meters name what they measure."""

    site: str
    line: str
    device: str
    device_type: str
    start_ms: int
    end_ms: int
    electricity_kwh: float
    natural_gas_nm3: float
    diesel_kg: float
    coke_kg: float
    input_t: float
    output_t: float
    residue_t: float
    through_t: float
    units: float
    loss_t: float
    measures: str


class GroundTruthRecorder:
    """Differences devices' cumulative truth at every interval boundary."""

    def __init__(self, start_ms: int, interval_ms: int = 900_000) -> None:
        if interval_ms <= 0:
            raise ValueError("interval_ms must be positive")
        self.interval_ms = interval_ms
        self._start_ms = start_ms
        self._previous: dict[DeviceId, dict[str, float]] = {}
        self._rows: list[TruthRow] = []

    def observe(self, t_ms: int, devices: Sequence[Observed]) -> None:
        """Call after every step; closes an interval when `t_ms` reaches its end."""
        if t_ms < self._start_ms + self.interval_ms:
            return
        for device in devices:
            self._rows.append(self._row(device, t_ms))
        self._start_ms = t_ms

    def drain(self) -> list[TruthRow]:
        rows, self._rows = self._rows, []
        return rows

    def _row(self, device: Observed, end_ms: int) -> TruthRow:
        before = self._previous.get(device.id) or empty_totals()
        now = dict(device.totals)
        self._previous[device.id] = now
        delta = {column: round(now[column] - before[column], 6) for column in COLUMNS}
        return TruthRow(site=device.id.site, line=device.id.line, device=device.id.device,
                        device_type=device.type.value, start_ms=self._start_ms, end_ms=end_ms,
                        measures=" ".join(device.measures), **delta)


FIELDS = tuple(TruthRow.__dataclass_fields__)
FAULT_FIELDS = ("t_ms", "kind", "device", "detail")


class TruthWriter:
    """Appends truth rows and fault records: JSON Lines (one file, a `record` field per line)
    for a `.jsonl` path, otherwise CSV (faults in a sibling `<name>.faults.csv`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._jsonl = path.suffix == ".jsonl"
        self.faults_path = path if self._jsonl else path.with_suffix(".faults.csv")
        for target in {self.path, self.faults_path}:
            target.write_text("")
        if not self._jsonl:
            _append_csv(self.path, FIELDS, [], header=True)
            _append_csv(self.faults_path, FAULT_FIELDS, [], header=True)

    def write(self, rows: Iterable[TruthRow], faults: Iterable[FaultRecord]) -> None:
        interval_rows = [asdict(row) for row in rows]
        fault_rows = [{name: getattr(record, name) for name in FAULT_FIELDS} for record in faults]
        if not interval_rows and not fault_rows:
            return  # runs call this every round; rows come every truth interval
        if self._jsonl:
            records = [{"record": "interval", **row} for row in interval_rows]
            records += [{"record": "fault", **row} for row in fault_rows]
            with self.path.open("a", encoding="utf-8") as out:
                out.writelines(json.dumps(r, sort_keys=True) + "\n" for r in records)
        else:
            _append_csv(self.path, FIELDS, interval_rows)
            _append_csv(self.faults_path, FAULT_FIELDS, fault_rows)


def _append_csv(
    path: Path, fields: Sequence[str], rows: list[dict[str, object]], header: bool = False
) -> None:
    with path.open("a", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(fields))
        if header:
            writer.writeheader()
        writer.writerows(rows)
