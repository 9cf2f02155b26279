"""Plant scenarios: a site, its lines and devices, a simulated clock, and scheduled faults.

Scenarios are YAML files; the shipped ones live in `simulators/scenarios/`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapters.errors import InvalidInput
from contract import EquipmentType
from contract.catalogue import REGISTER_MAX
from contract.messages import Identifier
from simulators.faults import Fault, FaultKind, FaultSchedule
from simulators.units import parse_duration, parse_timestamp_ms

Duration = str | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClockConfig(_Strict):
    start: str = Field("2026-03-02T00:00:00+08:00", description="Simulated start, ISO 8601.")
    speed: float = Field(1440.0, gt=0, description="Simulated seconds per wall second.")
    step_s: float = Field(10.0, gt=0, le=60, description="Fixed integration step.")


class RegisterSpec(_Strict):
    initial: float = Field(0.0, ge=0, description="Register value at the start of the run.")
    resolution: float | None = Field(None, gt=0, description="Display resolution; default by unit.")
    rollover_at: float = Field(REGISTER_MAX, gt=0, le=REGISTER_MAX, description="Wraps to 0 here.")


class DeviceConfig(_Strict):
    id: Identifier
    type: EquipmentType
    period_s: float = Field(10.0, gt=0, description="Sampling period of every metric.")
    params: dict[str, Any] = Field(default_factory=dict, description="Model parameters.")
    measures: list[str] = Field(default_factory=list, description="Meters: the devices whose "
                                "flows they measure, as `device` (same line) or `line/device`.")
    registers: dict[str, RegisterSpec] = Field(default_factory=dict)


class LineConfig(_Strict):
    id: Identifier
    description: str = ""
    devices: list[DeviceConfig] = Field(min_length=1)


class FaultConfig(_Strict):
    kind: FaultKind
    at: Duration = Field(description="Time after the start, such as 2h30m.")
    until: Duration | None = Field(None, description="End of a window, after the start.")
    device: str | None = Field(None, description="`line/device`; none: every device.")
    metric: str | None = None
    params: dict[str, float] = Field(default_factory=dict)

    def to_fault(self, start_ms: int) -> Fault:
        def absolute(offset: Duration) -> int:
            return start_ms + round(parse_duration(offset) * 1000)

        return Fault(self.kind, absolute(self.at),
                     absolute(self.until) if self.until is not None else None,
                     self.device, self.metric, tuple(sorted(self.params.items())))


class Scenario(_Strict):
    name: Identifier
    description: str
    site: Identifier
    utc_offset_h: float = Field(8.0, description="Local time of the site, for shifts.")
    clock: ClockConfig = ClockConfig()
    truth_interval: Duration = Field("15m", description="Ground-truth interval.")
    lines: list[LineConfig] = Field(min_length=1)
    faults: list[FaultConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        keys = [f"{line.id}/{device.id}" for line in self.lines for device in line.devices]
        if len(keys) != len(set(keys)):
            raise ValueError("device ids must be unique within their line")
        for fault in self.faults:
            if fault.device is not None and fault.device not in keys:
                raise ValueError(f"fault {fault.kind} names unknown device {fault.device!r}")
        self.fault_schedule()  # validates every fault
        return self

    @property
    def start_ms(self) -> int:
        return parse_timestamp_ms(self.clock.start)

    def overridden(self, *, start: str | None = None, site: str | None = None) -> Scenario:
        """This scenario starting at `start` (ISO 8601) or on `site`, validated again."""
        data = self.model_dump()
        if start is not None:
            data["clock"]["start"] = start
        if site is not None:
            data["site"] = site
        return _validated(data, f"scenario {self.name}")

    @property
    def step_ms(self) -> int:
        return round(self.clock.step_s * 1000)

    @property
    def device_count(self) -> int:
        return sum(len(line.devices) for line in self.lines)

    def fault_schedule(self) -> FaultSchedule:
        start = self.start_ms
        return FaultSchedule(tuple(fault.to_fault(start) for fault in self.faults))


SHIPPED = resources.files("simulators") / "scenarios"


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a scenario file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return parse_scenario(path.read_text(encoding="utf-8"), str(path))
    shipped = SHIPPED / f"{name_or_path}.yaml"
    if not shipped.is_file():
        names = ", ".join(s.name for s in shipped_scenarios())
        raise ScenarioError(f"no scenario {name_or_path!r} (shipped: {names})",
                            "give a shipped name (`loopmeter sim list`) or a .yaml file's path")
    return parse_scenario(shipped.read_text(encoding="utf-8"), str(shipped))


class ScenarioError(InvalidInput, ValueError):
    """A scenario that does not exist, is not YAML, or breaks a rule; the message says where."""


def parse_scenario(text: str, source: str = "scenario") -> Scenario:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{source} is not valid YAML: {' '.join(str(error).split())}",
                            "fix the file's syntax") from error
    return _validated(data, source)


def _validated(data: object, source: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'top level'}: {e['msg']}"
                             + _got(e.get("input")) for e in error.errors(include_url=False))
        raise ScenarioError(f"{source}: {problems}",
                            "fix the value named (docs/simulators.md describes scenarios)"
                            ) from error


def shipped_scenarios() -> list[Scenario]:
    files = sorted((f for f in SHIPPED.iterdir() if f.name.endswith(".yaml")),
                   key=lambda f: f.name)
    return [parse_scenario(f.read_text(encoding="utf-8")) for f in files]


def _got(value: object) -> str:
    return f" (got {value!r})" if isinstance(value, str | int | float) else ""
