"""The fast path agrees with `decode` + `to_points` + `line_protocol`, or declines to judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import (
    ContractError,
    DeviceId,
    MessageKind,
    Reason,
    decode,
    encode,
    line_protocol,
    to_points,
)
from contract.codec import CUSTOM_NAME
from contract.fast import FastData, fast_data
from tests.contract import strategies as s

GOLDEN = Path(__file__).parent / "golden"
TOPIC = DeviceId("s1", "l1", "m1").topic(MessageKind.DATA)

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8) \
    | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def reference(topic: str, payload: bytes) -> FastData | None:
    """What the precise path makes of a message, in the fast path's terms; None if refused."""
    try:
        envelope = decode(topic, payload, now_ms=s.NOW_MS)
    except ContractError:
        return None
    message = envelope.message
    lines = [line_protocol(p) for p in to_points(envelope.topic, message, s.NOW_MS)]
    return FastData(envelope.topic.device, message.seq, message.historical,  # type: ignore[union-attr]
                    [sample.ts for sample in message.samples], lines)  # type: ignore[union-attr]


def assert_agrees(topic: str, payload: bytes) -> FastData | None:
    fast = fast_data(topic, payload, now_ms=s.NOW_MS)
    if fast is not None:
        assert fast == reference(topic, payload)
    return fast


@given(s.data_messages(), s.device_ids)
def test_a_valid_data_message_takes_the_fast_path_with_the_same_lines(message, device) -> None:
    assert assert_agrees(device.topic(MessageKind.DATA), encode(message)) is not None


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid data message with one part replaced, removed or added."""
    body = json.loads(encode(draw(s.data_messages())))
    path = draw(st.sampled_from(_paths(body)[1:]))
    *parents, last = path
    container = body
    for step in parents:
        container = container[step]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        container[last] = draw(json_values)
    elif action == "remove":
        del container[last]
    elif isinstance(container, dict):
        container[draw(st.text(max_size=6) | st.sampled_from(["x_extra", "historical"]))] = \
            draw(json_values)
    else:
        container.append(draw(json_values))
    return json.dumps(body).encode()


@settings(max_examples=500)
@given(mutated())
def test_a_mutated_message_is_judged_as_decode_judges_it(payload: bytes) -> None:
    assert_agrees(TOPIC, payload)


@given(s.data_messages(), st.data())
def test_a_message_with_one_odd_value_is_judged_as_decode_judges_it(message, data) -> None:
    body = json.loads(encode(message))
    values = data.draw(st.sampled_from(body["samples"]))["values"]
    values[data.draw(st.sampled_from(sorted(values)))] = data.draw(json_scalars)
    assert_agrees(TOPIC, json.dumps(body).encode())


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_never_accepted_where_decode_refuses(payload: bytes) -> None:
    assert_agrees(TOPIC, payload)


def test_every_golden_case_is_judged_as_decode_judges_it() -> None:
    taken = set()
    for case in sorted(p for p in GOLDEN.iterdir() if p.is_dir()):
        topic = (case / "topic.txt").read_text().strip()
        if assert_agrees(topic, (case / "input.json").read_bytes()) is not None:
            taken.add(case.name)
    # A custom metric's string value is checked (length, control characters) by decode only.
    assert taken == {"data_crusher"}


def test_what_is_not_a_data_message_is_left_to_decode() -> None:
    birth = (GOLDEN / "birth" / "input.json").read_bytes()
    assert fast_data(DeviceId("s1", "l1", "m1").topic(MessageKind.BIRTH), birth,
                     now_ms=s.NOW_MS) is None
    assert fast_data("loopmeter/v2/s1/l1/m1/data", b"{}", now_ms=s.NOW_MS) is None


custom_names = st.text(st.sampled_from("abz09_"), min_size=1, max_size=62).map(
    lambda tail: f"x_{tail}")
unsafe_custom_names = (st.text(st.sampled_from("%,= \\\"a9é"), max_size=4)
                       | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                                 max_size=6)).map(lambda tail: f"x_{tail}").filter(
    lambda name: not CUSTOM_NAME.fullmatch(name))
custom_numbers = (st.integers(-(2**60), 2**60) | st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1])
                  | st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=300)
@given(st.lists(custom_names, min_size=1, max_size=4, unique=True), st.data())
def test_custom_metrics_of_any_name_and_number_are_written_as_decode_writes_them(names, data):
    """Ints past 2**53; samples whose names come in another order: the message-at-a-time
    path declines what it cannot write exactly and the sample-at-a-time path then takes it."""
    values = custom_numbers
    samples = []
    for index in range(data.draw(st.integers(1, 5))):
        order = data.draw(st.permutations(names)) if data.draw(st.booleans()) else names
        samples.append({"ts": s.NOW_MS - index, "values": {
            name: data.draw(values) for name in order}})
    body = {"v": 1, "device_type": "crusher_station", "seq": 1, "samples": samples}
    assert assert_agrees(TOPIC, json.dumps(body).encode()) is not None


@given(unsafe_custom_names, custom_numbers | st.text(max_size=4))
def test_unsafe_custom_names_are_refused_by_both_paths(name: str, value: float | str) -> None:
    body = {"v": 1, "device_type": "crusher_station", "seq": 1,
            "samples": [{"ts": s.NOW_MS, "values": {name: value}}]}
    payload = json.dumps(body).encode()
    assert fast_data(TOPIC, payload, now_ms=s.NOW_MS) is None
    with pytest.raises(ContractError) as refused:
        decode(TOPIC, payload, now_ms=s.NOW_MS)
    assert refused.value.reason is Reason.SCHEMA


def test_a_sample_without_values_is_left_to_decode() -> None:
    for values in ({}, {"x_a": 1.0}):
        samples = [{"ts": s.NOW_MS - 1, "values": values}, {"ts": s.NOW_MS, "values": {}}]
        payload = json.dumps({"v": 1, "device_type": "crusher_station", "seq": 0,
                              "samples": samples}).encode()
        assert fast_data(TOPIC, payload, now_ms=s.NOW_MS) is None
