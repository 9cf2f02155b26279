"""End-to-end acknowledgements: seq ranges, the ack message, its topic and its codec."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from contract import (
    AckMessage,
    ContractError,
    DeviceId,
    MessageKind,
    Reason,
    ack_messages,
    ack_subscription,
    decode_ack,
    encode_ack,
    parse_ack_topic,
    parse_topic,
    seq_ranges,
    subscription,
)
from contract.messages import MAX_ACK_RANGES
from contract.schema import json_schemas
from tests.contract.strategies import NOW_MS, device_ids

seq_sets = st.lists(st.integers(min_value=0, max_value=2**40), max_size=300)


def _expand(ranges: list[tuple[int, int]]) -> list[int]:
    return [seq for first, last in ranges for seq in range(first, last + 1)]


@given(st.lists(st.integers(min_value=0, max_value=5_000), max_size=300))
def test_ranges_hold_exactly_the_seqs_given(seqs: list[int]) -> None:
    assert _expand(seq_ranges(seqs)) == sorted(set(seqs))


@given(seq_sets)
def test_ranges_ascend_and_neither_touch_nor_overlap(seqs: list[int]) -> None:
    ranges = seq_ranges(seqs)
    assert all(first <= last for first, last in ranges)
    assert all(after[0] > before[1] + 1 for before, after in pairwise(ranges))


@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=3_000))
def test_ack_messages_confirm_every_seq_once_and_each_is_valid(seqs: list[int]) -> None:
    messages = ack_messages(seqs, NOW_MS)
    confirmed = [seq for m in messages for seq in _expand(list(m.seqs))]
    assert confirmed == sorted(set(seqs))
    assert all(len(m.seqs) <= MAX_ACK_RANGES for m in messages)
    for message in messages:
        assert decode_ack(encode_ack(message)) == message


def test_more_ranges_than_one_message_holds_are_split() -> None:
    seqs = range(0, 2 * (MAX_ACK_RANGES + 5), 2)  # every other seq: one range each
    assert [len(m.seqs) for m in ack_messages(seqs, NOW_MS)] == [MAX_ACK_RANGES, 5]


@pytest.mark.parametrize("seqs", [[[5, 4]], [[1, 3], [2, 6]], [[1, 3], [4, 6]], [[7, 8], [1, 2]],
                                  [], [[-1, 2]]])
def test_an_ack_with_ranges_out_of_order_or_empty_is_refused(seqs: list[list[int]]) -> None:
    payload = f'{{"v": 1, "ts": {NOW_MS}, "seqs": {seqs}}}'.encode()
    with pytest.raises(ContractError) as refused:
        decode_ack(payload)
    assert refused.value.reason is Reason.SCHEMA


def test_an_ack_without_the_contract_version_or_json_is_refused() -> None:
    with pytest.raises(ContractError):
        decode_ack(f'{{"ts": {NOW_MS}, "seqs": [[1, 2]]}}'.encode())
    with pytest.raises(ContractError) as refused:
        decode_ack(b"{")
    assert refused.value.reason is Reason.INVALID_JSON


def test_the_schema_accepts_what_the_codec_writes_and_refuses_the_wrong_shape() -> None:
    validator = Draft202012Validator(json_schemas()["ack"])
    payload = AckMessage(ts=NOW_MS, seqs=[(1, 4), (9, 9)]).model_dump(mode="json")
    assert list(validator.iter_errors(payload)) == []
    assert list(validator.iter_errors({"v": 1, "ts": NOW_MS, "seqs": [[1]]}))


@given(device_ids)
def test_the_ack_topic_belongs_to_its_device_and_no_data_subscription_sees_it(
        device: DeviceId) -> None:
    topic = device.ack_topic
    assert parse_ack_topic(topic) == device
    assert topic.startswith(device.prefix + "/")  # inside the device's ACL subtree
    assert _matches(ack_subscription(), topic)
    assert not _matches(subscription(), topic)  # ingest never receives its own acks
    with pytest.raises(ContractError):
        parse_topic(topic)


@pytest.mark.parametrize("topic", [
    "loopmeter/v1/s/l/d/ack", "loopmeter/v1/s/l/d/ack/other", "loopmeter/v2/s/l/d/ack/durable",
    "loopmeter/v1/s/l/ack/durable"])
def test_other_topics_are_not_ack_topics(topic: str) -> None:
    with pytest.raises(ContractError):
        parse_ack_topic(topic)


def test_data_topics_are_untouched() -> None:
    assert parse_topic(DeviceId("s", "l", "d").topic(MessageKind.DATA)).kind is MessageKind.DATA


def _matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic-filter matching for `+` levels (what these filters use)."""
    levels, names = topic_filter.split("/"), topic.split("/")
    return len(levels) == len(names) and all(f in ("+", n) for f, n in zip(levels, names,
                                                                             strict=True))
