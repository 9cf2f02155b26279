"""Mapping of messages to InfluxDB points, and line protocol. No I/O.

Tags are the low-cardinality identity (site, line, device, device type) and nothing else:
sequence numbers, sessions and message ids are fields or absent, because every distinct
tag value is a new series. A redelivered message maps to the same series and timestamps,
so rewriting it leaves the database unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from contract.catalogue import CUSTOM_PREFIX, MetricKind
from contract.messages import (
    INT64_MAX,
    BirthMessage,
    DataMessage,
    DeathMessage,
    EventMessage,
    Message,
    StatusMessage,
)
from contract.topics import DeviceId, Topic

# Every measurement Loopmeter writes, named once here for its writers and its readers (the
# gateway's queries, the carbon engine's reader, the dashboards).
# From device messages (`to_points`, written by the ingest service):
TELEMETRY = "telemetry"
LIFECYCLE = "device_lifecycle"
AGENT_STATUS = "agent_status"
DEVICE_EVENT = "device_event"
# The ingest service's own accounts: per-device stream quality, its workers, dropped messages.
INGEST_QUALITY = "ingest_quality"
INGEST_HEALTH = "ingest_health"
DEAD_LETTERS = "dead_letters"
# The energy-carbon engine's figures per site, line and period.
ENERGY_CARBON = "energy_carbon"
MEASUREMENTS = frozenset({TELEMETRY, LIFECYCLE, AGENT_STATUS, DEVICE_EVENT, INGEST_QUALITY,
                          INGEST_HEALTH, DEAD_LETTERS, ENERGY_CARBON})

FieldValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: dict[str, FieldValue]
    time_ms: int


def device_tags(device: DeviceId, device_type: str | None = None) -> tuple[tuple[str, str], ...]:
    """The tags of every point about a device, in line-protocol order."""
    tags = [("device", device.device), ("line", device.line), ("site", device.site)]
    if device_type:
        tags.insert(1, ("device_type", device_type))
    return tuple(tags)


def to_points(topic: Topic, message: Message, received_ms: int) -> list[Point]:
    """Points for one decoded message; `received_ms` dates what has no device time (death)."""
    if isinstance(message, DataMessage):
        tags = device_tags(topic.device, message.device_type.value)
        return [
            Point(TELEMETRY, tags, {_key(k, v): _field(v) for k, v in s.values.items()}, s.ts)
            for s in message.samples
        ]
    if isinstance(message, BirthMessage):
        return [Point(LIFECYCLE, device_tags(topic.device, message.device_type.value), {
            "event": "birth", "session": message.session, "next_seq": message.next_seq,
            "agent_version": message.agent.version, "firmware": message.agent.firmware,
            "metrics": len(message.metrics), **declared_maxima(message)}, message.ts)]
    if isinstance(message, DeathMessage):
        return [Point(LIFECYCLE, device_tags(topic.device), {"event": "death",
                      "session": message.session}, received_ms)]
    if isinstance(message, StatusMessage):
        return [_status_point(topic, message)]
    return [_event_point(topic, message)]


# A birth's declared maximum of each gauge, as `max_<gauge>`: the fastest the device says it
# can go, which the carbon engine uses (with the catalogue's) to judge a register's rollover.
MAX_PREFIX = "max_"


def declared_maxima(message: BirthMessage) -> dict[str, FieldValue]:
    """`max_<name>` for every gauge the birth declares a maximum for (a float field)."""
    return {MAX_PREFIX + m.name: float(m.maximum) for m in message.metrics
            if m.kind is MetricKind.GAUGE and m.maximum is not None}


@lru_cache(maxsize=65_536)
def telemetry_series(topic: Topic, device_type: str) -> str:
    """The series key (measurement and tags) of a device's telemetry lines."""
    return _series(TELEMETRY, device_tags(topic.device, device_type))


# InfluxDB fixes a field's type at its first write in a shard, for every series of the
# measurement: if one device's custom metric `x_mode` were a string and another's a number,
# the second device's whole lines would be refused. A custom metric's string values are
# therefore written under `<name>.text` (a dot is not allowed in metric names), its numbers
# under `<name>`: whatever any device sends, a field key has one type.
TEXT_SUFFIX = ".text"


def _key(name: str, value: float | int | str) -> str:
    if isinstance(value, str) and name.startswith(CUSTOM_PREFIX):
        return name + TEXT_SUFFIX
    return name


def _field(value: float | int | str) -> FieldValue:
    # Every numeric metric is a float field: InfluxDB fixes a field's type on first write.
    return value if isinstance(value, str) else float(value)


def _status_point(topic: Topic, message: StatusMessage) -> Point:
    fields: dict[str, FieldValue] = {
        "session": message.session, "queue_depth": message.queue_depth,
        "dropped_total": min(sum(message.dropped.values()), INT64_MAX),
        "agent_version": message.agent_version,
        "uptime_s": float(message.uptime_s)}
    fields.update({f"dropped_{reason}": count for reason, count in message.dropped.items()})
    if message.oldest_queued_ts is not None:
        fields["backlog_age_s"] = max(0.0, (message.ts - message.oldest_queued_ts) / 1000)
    if message.clock_offset_ms is not None:
        fields["clock_offset_ms"] = message.clock_offset_ms
    return Point(AGENT_STATUS, device_tags(topic.device), fields, message.ts)


def _event_point(topic: Topic, message: EventMessage) -> Point:
    fields: dict[str, FieldValue] = {"event": message.event, "detail": message.detail}
    if message.metric:
        fields["metric"] = message.metric
    fields.update({f"value_{k}": float(v) for k, v in message.values.items()})
    return Point(DEVICE_EVENT, device_tags(topic.device), fields, message.ts)


# The same escaping as influxdb-client's encoder, which the property tests compare against;
# this one is several times faster, and the ingest path serialises every point.
_CONTROL = {"\n": r"\n", "\t": r"\t", "\r": r"\r"}
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", **_CONTROL})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", **_CONTROL})
_STRING_ESCAPES = str.maketrans({'"': r'\"', "\\": r"\\"})


def line_protocol(point: Point) -> str:
    """One line of InfluxDB line protocol with millisecond precision."""
    fields = ",".join(f"{field_key(k)}={field_value(v)}" for k, v in sorted(point.fields.items()))
    return f"{_series(point.measurement, point.tags)} {fields} {point.time_ms}"


# A device's points share their series and field names: escaping each once per process
# makes serialising about three times faster on the ingest path.
@lru_cache(maxsize=65_536)
def _series(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    head = measurement.translate(_MEASUREMENT_ESCAPES)
    return head + "".join(f",{field_key(k)}={_tag_value(v)}" for k, v in sorted(tags) if k and v)


@lru_cache(maxsize=4096)
def field_key(key: str) -> str:
    """A tag or field key as line protocol writes it."""
    return key.translate(_KEY_ESCAPES)


def _tag_value(value: str) -> str:
    escaped = value.translate(_KEY_ESCAPES)
    # A trailing backslash would escape the separator that follows.
    return escaped + " " if escaped.endswith("\\") else escaped


def field_value(value: FieldValue) -> str:
    """A field value as line protocol writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        text = str(value)  # a float field without ".0" is still a float in line protocol
        return text[:-2] if text.endswith(".0") else text
    return f'"{value.translate(_STRING_ESCAPES)}"'
