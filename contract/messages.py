"""The v1 payloads, one model per message kind.

Timestamps are integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    model_validator,
)

from contract.catalogue import EquipmentType, MetricKind, MetricSpec
from contract.topics import IDENTIFIER_PATTERN

CONTRACT_VERSION = 1
MAX_SAMPLES_PER_MESSAGE = 10_000
WIRE = "wire"  # validation context of payloads decoded from bytes

TimestampMs = Annotated[
    StrictInt, Field(ge=0, description="Milliseconds since 1970-01-01T00:00:00Z.")]
Value = StrictFloat | StrictInt | StrictStr
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Annotated[Literal[1], Field(description="Contract version; 1 for this schema.")] = 1

    @model_validator(mode="before")
    @classmethod
    def _version_on_the_wire(cls, data: object, info: ValidationInfo) -> object:
        # Code may omit `v`; a payload from the wire must say which contract it follows.
        if info.context == WIRE and isinstance(data, dict) and "v" not in data:
            raise ValueError("missing contract version field 'v'")
        return data


class Sample(BaseModel):
    """The values of several metrics read at one instant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: TimestampMs
    values: dict[str, Value] = Field(min_length=1, description="Metric name to value.")


class DataMessage(_Payload):
    """A batch of samples. `seq` increases by one per data message of a device, across restarts."""

    device_type: EquipmentType
    seq: Annotated[StrictInt, Field(ge=0)]
    samples: list[Sample] = Field(min_length=1, max_length=MAX_SAMPLES_PER_MESSAGE)
    historical: bool = Field(False, description="True when replayed from the agent's backlog.")


class MetricDeclaration(BaseModel):
    """A metric the device will send; catalogue metrics must match the catalogue's unit and kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    unit: str
    kind: MetricKind
    period_s: Annotated[float, Field(gt=0, description="Declared sampling period in seconds.")]
    minimum: float | None = None
    maximum: float | None = None

    @classmethod
    def of(cls, spec: MetricSpec, period_s: float) -> MetricDeclaration:
        """A catalogue metric's declaration: unit, kind and range from the catalogue."""
        return cls(name=spec.name, unit=spec.unit, kind=spec.kind, period_s=period_s,
                   minimum=spec.minimum, maximum=spec.maximum)


class AgentInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=32)
    firmware: str = Field("", max_length=64, description="Firmware of the equipment controller.")


class BirthMessage(_Payload):
    """Sent on every connect (retained): what the device is and what it will send."""

    ts: TimestampMs
    session: Annotated[StrictInt, Field(ge=0, description="Increments on every connect.")]
    device_type: EquipmentType
    next_seq: Annotated[StrictInt, Field(ge=0, description="The seq of the next data message.")]
    agent: AgentInfo
    metrics: list[MetricDeclaration] = Field(min_length=1)
    meta: dict[str, str] = Field(default_factory=dict, description="Vendor, model, serial, ...")


class DeathMessage(_Payload):
    """The last will, registered at connect; the broker publishes it when the device vanishes."""

    ts: TimestampMs = Field(description="When the session that this will belongs to started.")
    session: Annotated[StrictInt, Field(ge=0)]


class StatusMessage(_Payload):
    """Periodic health of the agent and its store-and-forward queue."""

    ts: TimestampMs
    session: Annotated[StrictInt, Field(ge=0)]
    queue_depth: Annotated[StrictInt, Field(ge=0, description="Samples waiting to be sent.")]
    oldest_queued_ts: TimestampMs | None = None
    dropped: dict[str, Annotated[StrictInt, Field(ge=0)]] = Field(
        default_factory=dict, description="Samples dropped since start, by reason.")
    clock_offset_ms: StrictInt | None = Field(None, description="Device clock minus reference.")
    agent_version: str = Field(max_length=32)
    firmware: str = Field("", max_length=64)
    uptime_s: Annotated[float, Field(ge=0)] = 0.0


EventName = Literal[
    "counter_reset", "meter_replaced", "counter_rollover", "fault", "repair", "alarm",
    "config_changed", "clock_adjusted",
]


class EventMessage(_Payload):
    """Something happened that explains the data, such as a declared counter reset."""

    ts: TimestampMs
    event: EventName
    metric: str | None = Field(None, description="The metric concerned, if any.")
    detail: str = Field("", max_length=1024)
    values: dict[str, float] = Field(
        default_factory=dict, description="For meter_replaced: old_final and new_initial.")


Message = DataMessage | BirthMessage | DeathMessage | StatusMessage | EventMessage
