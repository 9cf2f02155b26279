"""Properties of the codec and the InfluxDB mapping, over messages built from the catalogue."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from influxdb_client.client.write.point import Point as LibraryPoint
from influxdb_client.domain.write_precision import WritePrecision

from contract import (
    CATALOGUE,
    BirthMessage,
    ContractError,
    DataMessage,
    DeviceId,
    EquipmentType,
    Limits,
    Message,
    MessageKind,
    MetricKind,
    Point,
    Reason,
    Topic,
    decode,
    decode_payload,
    encode,
    line_protocol,
    to_points,
)
from tests.contract import strategies as s

any_message = (s.data_messages() | s.birth_messages() | s.status_messages | s.death_messages
               | s.event_messages)
KIND_OF = {"DataMessage": MessageKind.DATA, "BirthMessage": MessageKind.BIRTH,
           "DeathMessage": MessageKind.DEATH, "StatusMessage": MessageKind.STATUS,
           "EventMessage": MessageKind.EVENT}


def kind(message: Message) -> MessageKind:
    return KIND_OF[type(message).__name__]


@given(any_message, s.device_ids)
def test_every_kind_round_trips(message: Message, device: DeviceId) -> None:
    envelope = decode(device.topic(kind(message)), encode(message), now_ms=s.NOW_MS)
    assert envelope.message == message
    assert envelope.topic == Topic(device, kind(message))


@given(s.data_messages(), s.device_ids)
def test_data_maps_to_one_point_per_sample_with_identity_tags_only(
    message: DataMessage, device: DeviceId
) -> None:
    points = to_points(Topic(device, MessageKind.DATA), message, received_ms=0)
    assert [p.time_ms for p in points] == [sample.ts for sample in message.samples]
    for point, sample in zip(points, message.samples, strict=True):
        assert dict(point.tags) == {"site": device.site, "line": device.line,
                                    "device": device.device,
                                    "device_type": message.device_type.value}
        assert point.fields == {k: v if isinstance(v, str) else float(v)
                                for k, v in sample.values.items()}
        assert all(not isinstance(v, int) for v in point.fields.values())


@given(any_message, s.device_ids)
def test_sequence_and_session_are_never_tags(message: Message, device: DeviceId) -> None:
    for point in to_points(Topic(device, kind(message)), message, received_ms=s.NOW_MS):
        assert {k for k, _ in point.tags} <= {"site", "line", "device", "device_type"}


@given(s.birth_messages(), s.device_ids)
def test_a_birth_point_carries_the_declared_maximum_of_each_gauge(
    message: BirthMessage, device: DeviceId
) -> None:
    [point] = to_points(Topic(device, MessageKind.BIRTH), message, received_ms=s.NOW_MS)
    maxima = {k: v for k, v in point.fields.items() if k.startswith("max_")}
    assert maxima == {f"max_{m.name}": m.maximum for m in message.metrics
                      if m.kind is MetricKind.GAUGE and m.maximum is not None}
    assert all(isinstance(v, float) for v in maxima.values())
    assert point.fields["event"] == "birth" and point.fields["metrics"] == len(message.metrics)


field_values = (st.floats(allow_nan=False, allow_infinity=False) | st.integers(-2**63, 2**63 - 1)
                | st.booleans() | st.text(max_size=20))
keys = st.text(st.characters(codec="ascii", exclude_characters="\\\r\n\t"), min_size=1,
               max_size=10).filter(lambda k: not k.startswith("_") and k.strip() == k)


measurements = keys.filter(lambda m: not m.startswith("#"))  # "#" starts a comment


@given(measurements, st.dictionaries(keys, keys.filter(lambda v: v.strip()), max_size=4),
       st.dictionaries(keys, field_values, min_size=1, max_size=4),
       st.integers(0, 2**41))
def test_line_protocol_matches_influxdb_client(
    measurement: str, tags: dict[str, str], fields: dict[str, float | int | bool | str], ts: int
) -> None:
    ours = line_protocol(Point(measurement, tuple(tags.items()), fields, ts))
    theirs = LibraryPoint(measurement).time(ts, WritePrecision.MS)  # type: ignore[arg-type]
    for key, value in tags.items():
        theirs.tag(key, value)
    for key, value in fields.items():
        theirs.field(key, value)
    assert ours == theirs.to_line_protocol()


@given(st.binary(max_size=300), st.sampled_from(list(MessageKind)))
def test_arbitrary_bytes_raise_only_contract_errors(payload: bytes, kind: MessageKind) -> None:
    try:
        decode_payload(kind, payload, now_ms=s.NOW_MS)
    except ContractError as error:
        assert error.errors and error.reason in Reason


@given(s.data_messages(), st.data())
def test_a_value_beyond_its_range_is_out_of_range(
    message: DataMessage, data: st.DataObject
) -> None:
    numeric = [m for m in CATALOGUE[message.device_type].metrics if m.states == ()]
    spec = data.draw(st.sampled_from(numeric))
    value = data.draw(st.sampled_from([spec.minimum - 1, spec.maximum * 1.01 + 1]))
    body = json.loads(encode(message))
    body["samples"][0]["values"][spec.name] = value
    with pytest.raises(ContractError) as caught:
        decode_payload(MessageKind.DATA, json.dumps(body).encode(), now_ms=s.NOW_MS)
    assert caught.value.reason is Reason.OUT_OF_RANGE
    assert f"samples[0].values.{spec.name}" in {e.path for e in caught.value.errors}


@given(s.data_messages(), st.from_regex(r"[a-w][a-z_]{0,10}", fullmatch=True))
def test_undeclared_metric_names_are_unknown(message: DataMessage, name: str) -> None:
    body = json.loads(encode(message))
    if name in CATALOGUE[message.device_type].by_name:
        return
    body["samples"][-1]["values"][name] = 1.0
    with pytest.raises(ContractError) as caught:
        decode_payload(MessageKind.DATA, json.dumps(body).encode(), now_ms=s.NOW_MS)
    assert caught.value.reason is Reason.UNKNOWN_METRIC


def test_oversized_payload_is_rejected_before_parsing() -> None:
    with pytest.raises(ContractError) as caught:
        decode_payload(MessageKind.DATA, b" " * 101, now_ms=0, limits=Limits(max_payload_bytes=100))
    assert caught.value.reason is Reason.TOO_LARGE


def test_future_limit_is_configurable() -> None:
    message = DataMessage(device_type=EquipmentType.GAS_METER, seq=1,
                          samples=[{"ts": s.NOW_MS + 60_000, "values": {"gas_nm3": 1.0}}])
    decode_payload(MessageKind.DATA, encode(message), now_ms=s.NOW_MS)
    with pytest.raises(ContractError, match="future_timestamp"):
        decode_payload(MessageKind.DATA, encode(message), now_ms=s.NOW_MS,
                       limits=Limits(max_future_ms=1000))


def test_catalogue_is_consistent() -> None:
    for equipment, spec in CATALOGUE.items():
        assert spec.type is equipment
        assert len(spec.by_name) == len(spec.metrics), f"duplicate metric in {equipment}"
        for metric in spec.metrics:
            assert metric.minimum < metric.maximum or metric.states, metric
            assert metric.name.islower() and not metric.name.startswith("x_")
