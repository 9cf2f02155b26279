"""The agent's configuration: one YAML file, overridden by `LOOPMETER_AGENT_*` variables.

Nested options use `__`: `LOOPMETER_AGENT_MQTT__URL=mqtts://broker:8883` overrides `mqtt.url`,
`LOOPMETER_AGENT_MQTT__PASSWORD=...` keeps the password out of the file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from adapters.errors import InvalidInput
from adapters.mqtt import MqttSettings
from contract import CUSTOM_PREFIX, EquipmentType, MetricDeclaration, MetricKind
from edge_agents.agent import AgentConfig
from edge_agents.driver import (
    CallableDriver,
    Driver,
    Reading,
    UnknownDriver,
    declare,
    plugin_factory,
)
from edge_agents.modbus import ModbusDriver, RegisterSpec

ENV_PREFIX = "LOOPMETER_AGENT_"


class MetricConfig(BaseModel):
    """A metric to sample: catalogue metrics need only a name; custom (x_...) ones their unit."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Catalogue metric name, or x_... for a custom one.")
    period_s: float = Field(10.0, gt=0, description="Sampling period in seconds.")
    unit: str | None = Field(None, description="Unit of a custom metric.")
    kind: MetricKind | None = Field(None, description="counter, gauge or state (custom only).")
    minimum: float | None = Field(None, description="Lowest plausible value (custom only).")
    maximum: float | None = Field(None, description="Highest plausible value (custom only).")

    def declaration(self, device_type: EquipmentType) -> MetricDeclaration:
        if not self.name.startswith(CUSTOM_PREFIX):
            return declare(device_type, self.name, self.period_s)
        if self.unit is None or self.kind is None:
            raise ValueError(f"custom metric {self.name!r} needs a unit and a kind")
        return MetricDeclaration(name=self.name, unit=self.unit, kind=self.kind,
                                 period_s=self.period_s, minimum=self.minimum,
                                 maximum=self.maximum)


class CallableDriverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["callable"] = "callable"
    target: str = Field(pattern=r"^[\w.]+:\w+$",
                        description="`module:function` called as function(names, now_ms).")


class ModbusDriverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["modbus"] = "modbus"
    host: str = Field(description="Address of the Modbus TCP server (meter or gateway).")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit (slave) id.")
    timeout_s: float = Field(3.0, gt=0, description="Timeout of one request.")
    registers: list[RegisterSpec] = Field(min_length=1, description="One entry per metric.")


class SimulatorDriverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["simulator"] = "simulator"
    scenario: str = Field(description="A shipped scenario (`loopmeter sim list`) or a file.")
    device: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$",
                        description="The scenario's device to read, as `line/device`.")
    seed: int = Field(0, description="Seed of the plant's random physics.")


DriverConfig = Annotated[CallableDriverConfig | ModbusDriverConfig | SimulatorDriverConfig,
                         Field(discriminator="kind")]


class AgentFile(BaseSettings):
    """Everything `loopmeter agent run` needs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                      extra="forbid")

    agent: AgentConfig = Field(description="Identity, batching, queue, replay and backoff.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="The broker.")
    state_dir: Path = Field(Path("agent-state"), description="Folder of the durable queue.")
    driver: DriverConfig = Field(description="How to read the machine.")
    metrics: list[MetricConfig] = Field(min_length=1, description="What to sample, how often.")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file comes in as init arguments; the environment overrides it.
        return env_settings, init_settings

    @model_validator(mode="after")
    def _metrics_fit(self) -> AgentFile:
        self.declarations()
        if isinstance(self.driver, ModbusDriverConfig):
            missing = {m.name for m in self.metrics} - {r.metric for r in self.driver.registers}
            if missing:
                raise ValueError(f"no register is mapped to {sorted(missing)}")
        return self

    def declarations(self) -> list[MetricDeclaration]:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"each metric may be listed once: {names}")
        return [m.declaration(self.agent.device_type) for m in self.metrics]


class ConfigError(InvalidInput):
    """The configuration is invalid; the message explains every problem, one per line."""

    default_hint = ("fix the file (or the LOOPMETER_AGENT_* environment variable); "
                    "`loopmeter agent check` lists every problem")


def load(path: Path) -> AgentFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read {path}: {_reason(error)}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options at the top level")
    try:
        return AgentFile(**data)
    except ValidationError as error:
        raise ConfigError(f"{path} is not a valid agent configuration:\n{explain(error)}"
                          ) from None


def _reason(error: OSError | yaml.YAMLError) -> str:
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return "not valid YAML: " + " ".join(str(error).split())


def explain(error: ValidationError) -> str:
    lines = []
    for detail in error.errors(include_url=False):
        where = ".".join(str(part) for part in detail["loc"]) or "(file)"
        lines.append(f"{where}: {detail['msg']}")
    return "\n".join(lines)


def build_driver(config: AgentFile, now_ms: int) -> Driver:
    """The configured driver; a simulated plant starts at `now_ms`."""
    declarations = config.declarations()
    if isinstance(config.driver, ModbusDriverConfig):
        d = config.driver
        return ModbusDriver(declarations, d.registers, d.host, d.port, d.unit_id, d.timeout_s)
    if isinstance(config.driver, SimulatorDriverConfig):
        try:
            factory = plugin_factory(config.driver.kind)
        except UnknownDriver as error:
            raise ConfigError(f"driver.kind: {error}") from error
        return factory(config.driver, config.agent.device_type, declarations, now_ms)
    return CallableDriver(declarations, _import(config.driver.target))


def _import(target: str) -> Callable[[Sequence[str], int], Reading]:
    module, name = target.split(":")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"driver.target: cannot import {target}: {error}") from error
    return cast(Callable[[Sequence[str], int], Reading], function)

