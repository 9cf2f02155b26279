"""Request and response bodies (DTO families: DeviceBase, DeviceCreate, DevicePublic, ...)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contract import EquipmentType
from contract.topics import IDENTIFIER_PATTERN
from gateway.liveness import Liveness
from gateway.metrics import Aggregate
from gateway.registry import DeviceRecord

IDENTIFIER = IDENTIFIER_PATTERN
PERIOD = r"^\d{4}-\d{2}(-\d{2}(T\d{2}(:\d{2})?)?)?$"
"""A carbon period label: month, day, hour or quarter (site local time)."""
REPORT_PERIOD = (r"^(\d{4}|\d{4}-\d{2}(-\d{2}(T\d{2}(:\d{2})?)?)?"
                 r"|\d{4}-\d{2}(-\d{2})?\.\.\d{4}-\d{2}(-\d{2})?)$")
"""A report's period: a period label, a year, or a run of months or days (`a..b`)."""
_ONE = IDENTIFIER_PATTERN.strip("^$")
DEVICE_ID = rf"^{_ONE}\.{_ONE}\.{_ONE}$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER, examples=["zz-crush-01"])]
MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetaValue = Annotated[str, StringConstraints(max_length=256)]


def at_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else at_ms(ms)


class DeviceBase(BaseModel):
    site: Identifier
    line: Identifier
    device: Identifier
    device_type: EquipmentType
    metadata: dict[MetaKey, MetaValue] = Field(
        default_factory=dict, max_length=32, description="Vendor, model, serial, location...")


class DeviceCreate(DeviceBase):
    model_config = ConfigDict(extra="forbid")


class LivenessPublic(BaseModel):
    online: bool = Field(description="Connected and heard from within the offline threshold.")
    last_seen: datetime | None
    last_seq: int | None = Field(description="Highest live data sequence number seen.")
    seq_gaps: int = Field(description="Data messages missing from the live sequence.")
    queue_depth: int | None = Field(description="Samples queued on the device (last status).")
    backlog_age_s: float | None = Field(description="Age of the oldest queued sample.")

    @classmethod
    def of(cls, state: Liveness, now_ms: int, offline_after_ms: int) -> LivenessPublic:
        return cls(online=state.online(now_ms, offline_after_ms),
                   last_seen=from_ms(state.last_seen_ms), last_seq=state.last_seq,
                   seq_gaps=state.seq_gaps, queue_depth=state.queue_depth,
                   backlog_age_s=state.backlog_age_s)


class DevicePublic(DeviceBase):
    id: str = Field(description="`site.line.device`; use it in device URLs.")
    topic_prefix: str = Field(description="The device publishes under `topic_prefix/#` only.")
    owner: str = Field(description="Id of the API token that registered the device.")
    status: Literal["active", "revoked"]
    created_at: datetime
    credentials_issued_at: datetime
    revoked_at: datetime | None
    liveness: LivenessPublic

    @classmethod
    def of(cls, record: DeviceRecord, liveness: LivenessPublic) -> DevicePublic:
        return cls(site=record.device.site, line=record.device.line,
                   device=record.device.device, device_type=record.device_type,
                   metadata=record.metadata, id=record.id, topic_prefix=record.device.prefix,
                   owner=record.owner, status="active" if record.active else "revoked",
                   created_at=at_ms(record.created_ms),
                   credentials_issued_at=at_ms(record.credentials_ms),
                   revoked_at=from_ms(record.revoked_ms), liveness=liveness)


class ConnectionBundle(BaseModel):
    """Everything a device needs to connect. The secrets are shown once: store them now."""

    device: DevicePublic
    broker_url: str
    username: str
    password: str
    client_id: str = Field(description="The client id the login is pinned to: the broker "
                                       "refuses the login with any other.")
    topic_prefix: str
    ingest_url: str = Field(description="HTTP ingest for devices that cannot speak MQTT.")
    ingest_token: str = Field(description="Bearer token for `ingest_url`.")
    agent_config: str = Field(description="A YAML snippet for the Loopmeter edge agent.")


class SeriesPoint(BaseModel):
    time: datetime
    value: float


class DeviceSeries(BaseModel):
    device: str
    points: list[SeriesPoint]


class SeriesResult(BaseModel):
    metric: str
    aggregate: Aggregate
    every: str
    start: datetime
    end: datetime
    series: list[DeviceSeries]


class DeviceValue(BaseModel):
    device: str
    value: float
    coverage: float | None = Field(None, description="`spread` of a counter: the share of the "
                                   "window its readings cover (uncovered time is not "
                                   "estimated); null otherwise.")
    flags: list[str] | None = Field(None, description="`spread` of a counter: what the "
                                    "engine's counter rules found (rollover_inferred, "
                                    "counter_backwards, uncovered, ...); null otherwise.")


class AggregateResult(BaseModel):
    metric: str
    aggregate: Aggregate
    start: datetime
    end: datetime
    devices: list[DeviceValue]
    total: float | None = Field(description="The devices' values combined: summed for sum, "
                                            "count and spread, their mean, min or max for "
                                            "those; null for first and last.")


class IngestAccepted(BaseModel):
    topic: str
    seq: int
    samples: int


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, bool]
