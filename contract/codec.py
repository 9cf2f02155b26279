"""Decode bytes into v1 messages with precise errors, and encode them back. No I/O."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from contract.catalogue import (
    CATALOGUE,
    CUSTOM_PREFIX,
    EquipmentSpec,
    EquipmentType,
    MetricKind,
    MetricSpec,
)
from contract.errors import ContractError, FieldError, Reason
from contract.messages import (
    WIRE,
    BirthMessage,
    DataMessage,
    DeathMessage,
    EventMessage,
    Message,
    StatusMessage,
)
from contract.topics import MessageKind, Topic, parse_topic

MODELS: dict[MessageKind, type[BaseModel]] = {
    MessageKind.DATA: DataMessage,
    MessageKind.BIRTH: BirthMessage,
    MessageKind.DEATH: DeathMessage,
    MessageKind.STATUS: StatusMessage,
    MessageKind.EVENT: EventMessage,
}
EARLIEST_MS = 1_577_836_800_000  # 2020-01-01: anything older is a device clock never set.


@dataclass(frozen=True, slots=True)
class Limits:
    """What a decoder accepts beyond the schema."""

    max_payload_bytes: int = 1_048_576
    max_future_ms: int = 300_000


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded message with the identity its topic gave it."""

    topic: Topic
    message: Message


def encode(message: Message) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def decode(topic: str, payload: bytes, *, now_ms: int, limits: Limits = Limits()) -> Envelope:
    """Decode one MQTT message; raise ContractError naming the reason and every bad field."""
    parsed = parse_topic(topic)
    return Envelope(parsed, decode_payload(parsed.kind, payload, now_ms=now_ms, limits=limits))


_VALUE_PATH = re.compile(r"samples\[\d+\]\.values\..+")


def without_bad_values(topic: str, payload: bytes, error: ContractError, *, now_ms: int,
                       limits: Limits = Limits()) -> Envelope | None:
    """The data message minus its values of the wrong type or badly named, if `error` is
    about such values only and nothing else is wrong; None otherwise (or if none is left).

    One bad value must not cost the other values of its sample and message: ingest stores
    what this returns and dead-letters the message with the error.
    """
    if error.reason is not Reason.SCHEMA or not all(
            _VALUE_PATH.fullmatch(field.path) for field in error.errors):
        return None
    try:
        body = json.loads(payload)
        spec = CATALOGUE[EquipmentType(body["device_type"])]
        for sample in body["samples"]:
            sample["values"] = {name: value for name, value in sample["values"].items()
                                if _well_typed(spec, name, value)}
        body["samples"] = [sample for sample in body["samples"] if sample["values"]]
        return decode(topic, json.dumps(body).encode(), now_ms=now_ms, limits=limits)
    except (ContractError, ValueError, LookupError, TypeError, AttributeError, RecursionError):
        return None


def _well_typed(spec: EquipmentSpec, name: str, value: object) -> bool:
    if type(value) not in (int, float, str):
        return False
    metric = spec.by_name.get(name)
    if metric is None:
        return not name.startswith(CUSTOM_PREFIX) or bool(CUSTOM_NAME.fullmatch(name))
    return isinstance(value, str) == (metric.kind is MetricKind.STATE)


def decode_payload(
    kind: MessageKind, payload: bytes, *, now_ms: int, limits: Limits = Limits()
) -> Message:
    if len(payload) > limits.max_payload_bytes:
        raise ContractError(Reason.TOO_LARGE, [FieldError(
            "$", f"{len(payload)} bytes exceeds the limit of {limits.max_payload_bytes}")])
    try:
        message: Message = MODELS[kind].model_validate_json(payload, context=WIRE)  # type: ignore[assignment]
    except ValidationError as error:
        raise _schema_error(error) from None
    problems = list(_semantic_problems(message, now_ms, limits))
    if problems:
        raise ContractError(problems[0][0], [error for _, error in problems])
    return message


def _schema_error(error: ValidationError) -> ContractError:
    details = error.errors(include_url=False)
    fields = _field_errors(details)
    first = details[0]
    if first["type"] == "json_invalid":
        return ContractError(Reason.INVALID_JSON, [FieldError("$", first["msg"])])
    version = next((d for d in details if d["loc"] == ("v",)), None)
    if version is not None:
        return ContractError(Reason.UNKNOWN_VERSION, [FieldError("v", "unsupported contract "
                             f"version {version.get('input')!r}; this decoder speaks v1")])
    if first["loc"] == () and "contract version" in first["msg"]:
        return ContractError(Reason.UNKNOWN_VERSION, [FieldError("v", first["msg"])])
    if any(d["loc"] == ("device_type",) and d["type"] == "enum" for d in details):
        return ContractError(Reason.UNKNOWN_DEVICE_TYPE, fields)
    return ContractError(Reason.SCHEMA, fields)


_UNION_MEMBERS = ("float", "int", "str")


def _field_errors(details: list[ErrorDetails]) -> list[FieldError]:
    """One error per field; a value that fits no member of the value union gets one message."""
    by_path: dict[str, FieldError] = {}
    for detail in details:
        loc = detail["loc"]
        if loc and loc[-1] in _UNION_MEMBERS and len(loc) > 1:
            path = _path(loc[:-1])
            by_path[path] = FieldError(path, f"expected a number (or a string for state "
                                             f"metrics), got {detail.get('input')!r}")
        else:
            by_path.setdefault(_path(loc), FieldError(_path(loc), detail["msg"]))
    return list(by_path.values())


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "$"


Problem = tuple[Reason, FieldError]


def _semantic_problems(message: Message, now_ms: int, limits: Limits) -> Iterator[Problem]:
    latest = now_ms + limits.max_future_ms
    if isinstance(message, DataMessage):
        yield from _data_problems(message, CATALOGUE[message.device_type], latest)
    elif isinstance(message, BirthMessage):
        yield from _timestamp_problems("ts", message.ts, latest)
        yield from _declaration_problems(message, CATALOGUE[message.device_type])
    else:
        yield from _timestamp_problems("ts", message.ts, latest)


def _timestamp_problems(path: str, ts: int, latest_ms: int) -> Iterator[Problem]:
    if ts > latest_ms:
        yield Reason.FUTURE_TIMESTAMP, FieldError(
            path, f"{ts} is {(ts - latest_ms) / 1000:.0f} s beyond the allowed clock skew")
    elif ts < EARLIEST_MS:
        yield Reason.OUT_OF_RANGE, FieldError(path, f"{ts} is before 2020: device clock not set")


def _data_problems(message: DataMessage, spec: EquipmentSpec, latest: int) -> Iterator[Problem]:
    seen: set[int] = set()
    for index, sample in enumerate(message.samples):
        where = f"samples[{index}]"
        if sample.ts in seen:
            yield Reason.SCHEMA, FieldError(f"{where}.ts", f"duplicate timestamp {sample.ts}")
        seen.add(sample.ts)
        yield from _timestamp_problems(f"{where}.ts", sample.ts, latest)
        for name, value in sample.values.items():
            yield from _value_problems(f"{where}.values.{name}", spec, name, value)


CUSTOM_NAME = re.compile(f"{CUSTOM_PREFIX}[a-z0-9_]{{1,62}}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_TEXT_VALUE = 1024  # characters of a custom metric's string value
_FLOAT_MAX = sys.float_info.max


def _value_problems(
    path: str, spec: EquipmentSpec, name: str, value: float | str
) -> Iterator[Problem]:
    metric = spec.by_name.get(name)
    if metric is None:
        if not name.startswith(CUSTOM_PREFIX):
            yield Reason.UNKNOWN_METRIC, FieldError(path, _unknown_metric(spec, name))
        elif not CUSTOM_NAME.fullmatch(name):
            yield Reason.SCHEMA, FieldError(path, f"{name!r} is not a custom metric name: "
                                            f"{CUSTOM_PREFIX} then 1-62 of a-z 0-9 _")
        elif isinstance(value, str):
            yield from _text_problems(path, value)
        else:
            yield from _number_problems(path, value)
        return
    if not isinstance(value, str) and (problem := _not_finite(value)):
        yield Reason.OUT_OF_RANGE, FieldError(path, problem)
        return
    problem = metric.check(value)
    if problem:
        wrong_type = isinstance(value, str) != (metric.kind is MetricKind.STATE)
        yield (Reason.SCHEMA if wrong_type else Reason.OUT_OF_RANGE), FieldError(path, problem)


def _not_finite(value: float) -> str | None:
    """Why a number cannot be stored as a finite 64-bit float, or None if it can."""
    if value != value:
        return "NaN is not a measurement"
    if not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        return f"{value!r:.40} is beyond the range of a 64-bit float"
    return None


def _number_problems(path: str, value: float) -> Iterator[Problem]:
    problem = _not_finite(value)
    if problem:
        yield Reason.OUT_OF_RANGE, FieldError(path, problem)


def _text_problems(path: str, value: str) -> Iterator[Problem]:
    if len(value) > MAX_TEXT_VALUE:
        yield Reason.SCHEMA, FieldError(path, f"a string value has at most {MAX_TEXT_VALUE} "
                                        f"characters, got {len(value)}")
    elif _CONTROL.search(value):
        yield Reason.SCHEMA, FieldError(path, "a string value holds no control characters")


def _unknown_metric(spec: EquipmentSpec, name: str) -> str:
    return (f"{name!r} is not a {spec.type.value} metric (known: {', '.join(spec.by_name)}; "
            f"custom metrics start with {CUSTOM_PREFIX!r})")


def _declaration_problems(message: BirthMessage, spec: EquipmentSpec) -> Iterator[Problem]:
    for index, declared in enumerate(message.metrics):
        path = f"metrics[{index}]"
        known: MetricSpec | None = spec.by_name.get(declared.name)
        if known is None:
            if not declared.name.startswith(CUSTOM_PREFIX):
                yield Reason.UNKNOWN_METRIC, FieldError(
                    f"{path}.name", _unknown_metric(spec, declared.name))
        elif (declared.unit, declared.kind) != (known.unit, known.kind):
            yield Reason.SCHEMA, FieldError(path, f"{declared.name} is {known.kind.value} in "
                                            f"{known.unit!r}, declared {declared.kind.value} in "
                                            f"{declared.unit!r}")
