"""The v1 payloads, one model per message kind.

Timestamps are integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
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

INT64_MAX = 2**63 - 1  # InfluxDB's integer fields are signed 64-bit
LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

TimestampMs = Annotated[StrictInt, Field(ge=0, le=LAST_MS, description="Milliseconds since "
                                         "1970-01-01T00:00:00Z.")]
Count = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]
# A finite float: an integer is taken as one, a bool or a string is not.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
# A value's range is checked by the codec (`codec._value_problems`): a non-finite number or
# one beyond a float's range is out of range, a string is only for state metrics.
Value = StrictFloat | StrictInt | StrictStr
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
# Text that becomes an InfluxDB string field or key: no control characters (a newline
# would split a line of line protocol).
Text = Annotated[StrictStr, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]
# Names of metrics, and of a status message's drop reasons and an event's values, which
# become field keys: nothing a field key must escape.
METRIC_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
Key = Annotated[str, Field(pattern=METRIC_NAME_PATTERN)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Annotated[Literal[1], Field(description="Contract version; 1 for this schema.")] = 1

    @model_validator(mode="before")
    @classmethod
    def _version_on_the_wire(cls, data: object, info: ValidationInfo) -> object:
        # Code may omit `v`; a payload from the wire must say which contract it follows.
        if info.context == WIRE and isinstance(data, dict) and "v" not in data:
            raise ValueError("missing contract version field 'v'")
        # The integer 1: neither `true` nor `1.0`, which a lax literal would take for it.
        if isinstance(data, dict) and "v" in data and type(data["v"]) is not int:
            raise ValueError(f"unsupported contract version {data['v']!r}: it is the integer 1")
        return data


class Sample(BaseModel):
    """The values of several metrics read at one instant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: TimestampMs
    values: dict[str, Value] = Field(min_length=1, description="Metric name to value.")


class DataMessage(_Payload):
    """A batch of samples. `seq` increases by one per data message of a device, across restarts."""

    device_type: EquipmentType
    seq: Count
    samples: list[Sample] = Field(min_length=1, max_length=MAX_SAMPLES_PER_MESSAGE)
    historical: StrictBool = Field(False, description="True when replayed from the agent's "
                                   "backlog.")


class MetricDeclaration(BaseModel):
    """A metric the device will send; catalogue metrics must match the catalogue's unit and kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Key
    unit: Text = Field(max_length=32)
    kind: MetricKind
    period_s: Annotated[Number, Field(gt=0, description="Declared sampling period in seconds.")]
    minimum: Number | None = None
    maximum: Number | None = None

    @classmethod
    def of(cls, spec: MetricSpec, period_s: float) -> MetricDeclaration:
        """A catalogue metric's declaration: unit, kind and range from the catalogue."""
        return cls(name=spec.name, unit=spec.unit, kind=spec.kind, period_s=period_s,
                   minimum=spec.minimum, maximum=spec.maximum)


class AgentInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text = Field(min_length=1, max_length=64)
    version: Text = Field(min_length=1, max_length=32)
    firmware: Text = Field("", max_length=64, description="Firmware of the equipment controller.")


class BirthMessage(_Payload):
    """Sent on every connect (retained): what the device is and what it will send."""

    ts: TimestampMs
    session: Annotated[Count, Field(description="Increments on every connect.")]
    device_type: EquipmentType
    next_seq: Annotated[Count, Field(description="The seq of the next data message.")]
    agent: AgentInfo
    metrics: list[MetricDeclaration] = Field(min_length=1, max_length=256)
    meta: dict[str, str] = Field(default_factory=dict, max_length=64,
                                 description="Vendor, model, serial, ...")


class DeathMessage(_Payload):
    """The last will, registered at connect; the broker publishes it when the device vanishes."""

    ts: TimestampMs = Field(description="When the session that this will belongs to started.")
    session: Count


class StatusMessage(_Payload):
    """Periodic health of the agent and its store-and-forward queue."""

    ts: TimestampMs
    session: Count
    queue_depth: Annotated[Count, Field(description="Samples waiting to be sent.")]
    oldest_queued_ts: TimestampMs | None = None
    dropped: dict[Key, Count] = Field(
        default_factory=dict, max_length=32, description="Samples dropped since start, by "
        "reason; their sum must fit a 64-bit integer.")
    clock_offset_ms: Annotated[StrictInt, Field(ge=-LAST_MS, le=LAST_MS)] | None = Field(
        None, description="Device clock minus reference.")
    agent_version: Text = Field(max_length=32)
    firmware: Text = Field("", max_length=64)
    uptime_s: Annotated[Number, Field(ge=0)] = 0.0


EventName = Literal[
    "counter_reset", "meter_replaced", "counter_rollover", "fault", "repair", "alarm",
    "config_changed", "clock_adjusted",
]


class EventMessage(_Payload):
    """Something happened that explains the data, such as a declared counter reset."""

    ts: TimestampMs
    event: EventName
    metric: Key | None = Field(None, description="The metric concerned, if any.")
    detail: Text = Field("", max_length=1024)
    values: dict[Key, Number] = Field(
        default_factory=dict, max_length=32,
        description="For meter_replaced: old_final and new_initial.")


Message = DataMessage | BirthMessage | DeathMessage | StatusMessage | EventMessage

MAX_ACK_RANGES = 1_000
SeqNumber = Annotated[StrictInt, Field(ge=0)]


class AckMessage(_Payload):
    """Ingest to one device: these data messages are durable (in the database, in ingest's
    spool or in its dead-letter store); the device may delete them from its queue.

    Ranges, not a watermark: with a shared subscription a device's messages are split over
    several ingest workers, and no one worker knows what the others have stored.
    """

    ts: TimestampMs = Field(description="When ingest made these messages durable.")
    seqs: list[tuple[SeqNumber, SeqNumber]] = Field(
        min_length=1, max_length=MAX_ACK_RANGES,
        description="Ranges [first, last] (inclusive) of data-message seqs now durable, in "
                    "ascending order, neither overlapping nor adjacent.")

    @model_validator(mode="after")
    def _ranges_in_order(self) -> AckMessage:
        previous = -2
        for first, last in self.seqs:
            if first > last or first <= previous + 1:
                raise ValueError(f"seq ranges must ascend without overlap or contact: "
                                 f"[{first}, {last}] after {previous}")
            previous = last
        return self
