"""The fast path of ingest: a data message straight to line protocol, or a refusal to judge.

`decode` validates with pydantic and reports every bad field precisely, which is what a bad
message deserves; a good one, the common case, does not need that machinery. `fast_data`
checks a data message with plain loops and returns None whenever anything departs from the
ordinary; the caller then decodes it the precise way. It never accepts what `decode` refuses,
and its lines are those of `to_points` followed by `line_protocol`: the property tests hold
it to both. No I/O.

Most messages carry samples of numbers under the same metric names. Those are checked and
written a message at a time: the values in one flat tuple, their types and bounds checked by
`map` over it, every line's fields written by one `%` format (`%r` is the `repr` that
`line_protocol` writes). Other messages go a sample and a value at a time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter, le
from typing import Any

import orjson

from contract.catalogue import CATALOGUE, CUSTOM_PREFIX, EquipmentType, MetricKind
from contract.codec import CUSTOM_NAME, EARLIEST_MS, Limits
from contract.errors import ContractError
from contract.messages import CONTRACT_VERSION, INT64_MAX, MAX_SAMPLES_PER_MESSAGE
from contract.points import field_key, field_value, telemetry_series
from contract.topics import DeviceId, MessageKind, Topic, parse_topic

_REQUIRED = frozenset({"v", "device_type", "seq", "samples"})
_ALLOWED = _REQUIRED | {"historical"}
_SAMPLE_KEYS = frozenset({"ts", "values"})
_DEFAULT_LIMITS = Limits()


_NUMBER, _STATE, _CUSTOM = range(3)  # what a metric's value must be
_ANY_NUMBER = (-sys.float_info.max, sys.float_info.max)
_NUMBER_TYPES = frozenset({float, int})
# `%r` of an int is its digits, `line_protocol` writes repr(float(int)): the same text only
# while the float holds the int exactly. Beyond that, a message takes the slow path.
_EXACT_INT = 2.0 ** 53

# How one field is checked and written: its name, its escaped key and `=`, what it must be,
# the bounds of a number and the allowed states (empty: any state name).
_Field = tuple[str, str, int, float, float, frozenset[str]]


def _catalogue_fields(equipment: EquipmentType) -> dict[str, _Field]:
    fields = {}
    for metric in CATALOGUE[equipment].metrics:
        prefix = f"{field_key(metric.name)}="
        fields[metric.name] = (
            (metric.name, prefix, _STATE, 0.0, 0.0, frozenset(metric.states))
            if metric.kind is MetricKind.STATE
            else (metric.name, prefix, _NUMBER, metric.minimum, metric.maximum, frozenset()))
    return fields


_CATALOGUE_FIELDS: dict[str, dict[str, _Field]] = {
    kind.value: _catalogue_fields(kind) for kind in CATALOGUE}


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to check and write the values of a sample with given metric names."""

    fields: tuple[_Field, ...]  # in line order
    take: Callable[[dict[str, Any]], tuple[Any, ...]]  # the values, in line order
    lowest: tuple[float, ...]  # of each value, then of the timestamp
    highest: tuple[float, ...]  # of each value (the timestamp's depends on the clock)
    template: str | None  # the field set, `%r` for each value; None if a state may appear


@lru_cache(maxsize=4096)
def _plan(device_type: str, names: tuple[str, ...]) -> _Plan | None:
    """The plan for samples with these metric names, in this order; None if there are none or
    one is neither in the catalogue nor custom. A device's samples repeat their names."""
    if not names:
        return None
    known = _CATALOGUE_FIELDS[device_type]
    fields = []
    for name in sorted(names):
        if name in known:
            fields.append(known[name])
        elif name.startswith(CUSTOM_PREFIX) and CUSTOM_NAME.fullmatch(name):
            fields.append((name, f"{field_key(name)}=", _CUSTOM, *_ANY_NUMBER, frozenset()))
        else:
            return None
    ordered = [field[0] for field in fields]
    take = itemgetter(*ordered) if len(ordered) > 1 else lambda values: (values[ordered[0]],)
    template = None
    if all(field[2] != _STATE for field in fields):
        template = ",".join(f"{field[1].replace('%', '%%')}%r" for field in fields)
    return _Plan(tuple(fields), take, (*(max(f[3], -_EXACT_INT) for f in fields), EARLIEST_MS),
                 tuple(min(f[4], _EXACT_INT) for f in fields), template)


@dataclass(frozen=True, slots=True)
class FastData:
    """What ingest needs of a valid data message."""

    device: DeviceId
    seq: int
    historical: bool
    timestamps: list[int]
    lines: list[str]


@lru_cache(maxsize=65_536)
def _data_topic(topic: str) -> Topic | None:
    try:
        parsed = parse_topic(topic)
    except ContractError:
        return None
    return parsed if parsed.kind is MessageKind.DATA else None


@lru_cache(maxsize=65_536)
def _line_template(topic: Topic, device_type: str,
                   names: tuple[str, ...]) -> tuple[_Plan, str] | None:
    """A device's plan and the `%` template of its whole line: series, fields, timestamp."""
    plan = _plan(device_type, names)
    series = telemetry_series(topic, device_type)
    # The bare ".0" of numbers is removed from the formatted text: the series must hold none.
    if plan is None or plan.template is None or ".0," in series or series.endswith(".0"):
        return None
    return plan, f"{series.replace('%', '%%')} {plan.template} %d\n"


def fast_data(topic: str, payload: bytes, *, now_ms: int,
              limits: Limits = _DEFAULT_LIMITS) -> FastData | None:
    """The message's lines if it is an ordinary valid data message, else None."""
    parsed = _data_topic(topic)
    if parsed is None or len(payload) > limits.max_payload_bytes:
        return None
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not _ordinary_envelope(body):
        return None
    device_type, samples = body["device_type"], body["samples"]
    latest_ms = now_ms + limits.max_future_ms
    written = (_uniform_lines(parsed, device_type, samples, latest_ms)
               or _lines_per_sample(parsed, device_type, samples, latest_ms))
    if written is None:
        return None
    timestamps, lines = written
    return FastData(parsed.device, body["seq"], body.get("historical", False), timestamps, lines)


Written = tuple[list[int], list[str]]  # the samples' timestamps and lines


def _uniform_lines(topic: Topic, device_type: str, samples: list[Any],
                   latest_ms: int) -> Written | None:
    """The lines of a message whose samples have the same names and only numbers, written a
    message at a time; None if it is not such a message or not plainly valid."""
    first = samples[0]
    if type(first) is not dict or type(first.get("values")) is not dict:
        return None
    names = tuple(first["values"])
    found = _line_template(topic, device_type, names)
    if found is None:
        return None
    plan, template = found
    take = plan.take
    timestamps: list[Any] = []
    flat: list[Any] = []  # each sample's values, then its timestamp
    for sample in samples:
        if type(sample) is not dict or sample.keys() != _SAMPLE_KEYS:
            return None
        values, ts = sample["values"], sample["ts"]
        if type(values) is not dict or tuple(values) != names:
            return None
        flat.extend(take(values))
        flat.append(ts)
        timestamps.append(ts)
    count = len(timestamps)
    if (set(map(type, timestamps)) != {int} or not set(map(type, flat)) <= _NUMBER_TYPES
            or not all(map(le, plan.lowest * count, flat))
            or not all(map(le, flat, (*plan.highest, latest_ms) * count))
            or len(set(timestamps)) != count):
        return None
    # Every number is a float field (see `points._field`), written without a bare ".0".
    text = (template * count) % tuple(flat)
    return timestamps, text.replace(".0,", ",").replace(".0 ", " ").split("\n")[:-1]


def _lines_per_sample(topic: Topic, device_type: str, samples: list[Any],
                      latest_ms: int) -> Written | None:
    """The lines of any plainly valid message, a sample and a value at a time."""
    timestamps = []
    fields = []
    for sample in samples:
        if type(sample) is not dict or sample.keys() != _SAMPLE_KEYS:
            return None
        field_set = _fields(sample["values"], device_type)
        if field_set is None:
            return None
        timestamps.append(sample["ts"])
        fields.append(field_set)
    if (set(map(type, timestamps)) != {int} or min(timestamps) < EARLIEST_MS
            or max(timestamps) > latest_ms or len(set(timestamps)) != len(timestamps)):
        return None
    series = telemetry_series(topic, device_type)
    return timestamps, [f"{series} {field_set} {ts}"
                        for field_set, ts in zip(fields, timestamps, strict=True)]


def _ordinary_envelope(body: Any) -> bool:
    if type(body) is not dict or not _REQUIRED <= body.keys() <= _ALLOWED:
        return False
    version, device_type, seq, samples = (body[k] for k in ("v", "device_type", "seq", "samples"))
    return (type(version) is int and version == CONTRACT_VERSION
            and type(device_type) is str and device_type in _CATALOGUE_FIELDS
            and type(seq) is int and 0 <= seq <= INT64_MAX
            and type(body.get("historical", False)) is bool
            and type(samples) is list and 0 < len(samples) <= MAX_SAMPLES_PER_MESSAGE)


def _fields(values: Any, device_type: str) -> str | None:
    """The field set of one sample's line, or None if a value is not plainly valid."""
    if type(values) is not dict or not values:
        return None
    plan = _plan(device_type, tuple(values))
    if plan is None:
        return None
    fields = []
    for name, prefix, must_be, minimum, maximum, states in plan.fields:
        value = values[name]
        kind = type(value)
        if kind is float or kind is int:
            if must_be is _STATE or not minimum <= value <= maximum:
                return None
            # Every number is a float field (see `points._field`), written without a bare ".0".
            text = repr(value) if kind is float else repr(float(value))
            fields.append(prefix + (text[:-2] if text[-2:] == ".0" else text))
        elif kind is str and must_be is _STATE:
            if states and value not in states:
                return None
            fields.append(prefix + field_value(value))
        else:
            return None
    return ",".join(fields)
