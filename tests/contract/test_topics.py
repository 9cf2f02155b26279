"""Topic namespace: parsing, identities and the filters that ingest subscribes with."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract import ContractError, DeviceId, MessageKind, Reason, Topic
from contract.topics import parse_topic, shared_subscription, subscription

IDENTIFIER = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,63}\Z")


@given(IDENTIFIER, IDENTIFIER, IDENTIFIER, st.sampled_from(MessageKind))
def test_every_device_topic_parses_back_to_its_identity(
        site: str, line: str, device: str, kind: MessageKind) -> None:
    identity = DeviceId(site, line, device)
    assert parse_topic(identity.topic(kind)) == Topic(identity, kind)


def test_a_topic_of_another_version_is_refused_as_such() -> None:
    with pytest.raises(ContractError) as refused:
        parse_topic("loopmeter/v2/s1/l1/m1/data")
    assert refused.value.reason is Reason.UNKNOWN_VERSION


@pytest.mark.parametrize("topic", [
    "other/v1/s1/l1/m1/data",          # another namespace
    "loopmeter/v1/s1/l1/data",         # identity incomplete
    "loopmeter/v1/s1/l1/m1/data/x",    # too deep
    "loopmeter/v1/s1/l1/m1/values",    # unknown kind
    "loopmeter/v1/S1/l1/m1/data",      # upper case
    "loopmeter/v1/s1/-l/m1/data",      # starts with a dash
    "loopmeter/v1/s1/l1//data",        # empty level
])
def test_a_topic_outside_the_namespace_is_refused(topic: str) -> None:
    with pytest.raises(ContractError) as refused:
        parse_topic(topic)
    assert refused.value.reason is Reason.BAD_TOPIC


@pytest.mark.parametrize("site", ["", "A", "a" * 65, "a/b", "+", "#"])
def test_an_identity_must_be_a_plain_identifier(site: str) -> None:
    with pytest.raises(ContractError):
        DeviceId(site, "l1", "m1")


def test_the_device_prefix_is_what_its_acl_grants() -> None:
    assert DeviceId("s1", "l1", "m1").prefix == "loopmeter/v1/s1/l1/m1"


def test_subscriptions_cover_all_sites_or_one_site_and_all_kinds_or_one() -> None:
    assert subscription() == "loopmeter/v1/+/+/+/+"
    assert subscription(MessageKind.BIRTH) == "loopmeter/v1/+/+/+/birth"
    assert subscription(site="s1") == "loopmeter/v1/s1/+/+/+"
    assert shared_subscription("g") == "$share/g/loopmeter/v1/+/+/+/+"
    assert shared_subscription("g", site="s1") == "$share/g/loopmeter/v1/s1/+/+/+"
