"""The v1 topic namespace: `loopmeter/v1/{site}/{line}/{device}/{kind}`.

Site, line and device are in the topic so that the broker's ACL can confine each
device to `loopmeter/v1/{site}/{line}/{device}/#` and so that any ingest worker
can tag a message without having seen the device's birth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from contract.errors import ContractError, FieldError, Reason

ROOT = "loopmeter"
VERSION = "v1"
PREFIX = f"{ROOT}/{VERSION}"
# Site, line and device ids: what may stand in one topic level and in an InfluxDB tag.
IDENTIFIER_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
ACK_SUFFIX = "ack/durable"


class MessageKind(StrEnum):
    """What a message on a device topic carries."""

    DATA = "data"
    BIRTH = "birth"
    DEATH = "death"
    STATUS = "status"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class DeviceId:
    """A device's identity: unique within its line, which is unique within its site."""

    site: str
    line: str
    device: str

    def __post_init__(self) -> None:
        for part in ("site", "line", "device"):
            check_identifier(getattr(self, part), part)

    def topic(self, kind: MessageKind) -> str:
        return f"{self.prefix}/{kind.value}"

    @property
    def prefix(self) -> str:
        """The topic prefix the device owns; its ACL is `prefix/#`."""
        return f"{PREFIX}/{self.site}/{self.line}/{self.device}"

    @property
    def client_id(self) -> str:
        """The device's MQTT client id and broker login: the broker pins the login to this id.

        Identifiers hold no dots, so no two devices share it and no service id has this form.
        """
        return f"dev.{self.site}.{self.line}.{self.device}"

    @property
    def ack_topic(self) -> str:
        """Where ingest confirms which of this device's data messages are durable.

        One level deeper than the message kinds, inside the device's own subtree: the broker
        lets only this device read it, and only ingest publish there (`is_acknowledgement`).
        """
        return f"{self.prefix}/{ACK_SUFFIX}"


@dataclass(frozen=True, slots=True)
class Topic:
    device: DeviceId
    kind: MessageKind


def check_identifier(value: str, field: str) -> None:
    if not _IDENTIFIER.fullmatch(value):
        raise ContractError(
            Reason.BAD_TOPIC,
            [FieldError(field, f"{value!r} is not an identifier: use 1-64 of a-z 0-9 _ -, "
                               "starting with a letter or digit")],
        )


def parse_topic(topic: str) -> Topic:
    """Parse a device topic; raise ContractError(Reason.BAD_TOPIC) for anything else."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != ROOT:
        raise ContractError(
            Reason.BAD_TOPIC,
            [FieldError("topic", f"{topic!r} is not {PREFIX}/<site>/<line>/<device>/<kind>")],
        )
    if parts[1] != VERSION:
        raise ContractError(
            Reason.UNKNOWN_VERSION,
            [FieldError("topic", f"topic version {parts[1]!r} is not supported (only {VERSION})")],
        )
    try:
        kind = MessageKind(parts[5])
    except ValueError:
        kinds = ", ".join(k.value for k in MessageKind)
        raise ContractError(
            Reason.BAD_TOPIC, [FieldError("topic", f"unknown message kind {parts[5]!r} ({kinds})")]
        ) from None
    return Topic(DeviceId(parts[2], parts[3], parts[4]), kind)


def subscription(kind: MessageKind | None = None, site: str = "+") -> str:
    """Topic filter for every device (of one site), for one kind or all kinds."""
    return f"{PREFIX}/{site}/+/+/{kind.value if kind else '+'}"


def shared_subscription(group: str, kind: MessageKind | None = None, site: str = "+") -> str:
    """MQTT 5 shared subscription, so that workers of one group split the load."""
    return f"$share/{group}/{subscription(kind, site)}"


def every_topic(site: str = "+") -> str:
    """Topic filter for every message under the prefix (of one site), malformed topics
    included (a level too many or too few, a trailing slash, a kind in capitals), so that
    ingest sees each one and dead-letters what is not a device topic instead of losing it."""
    return f"{ROOT}/#" if site == "+" else f"{PREFIX}/{site}/#"


ACKNOWLEDGEMENTS = "ack"  # the level below a device's prefix where ingest acknowledges


def is_acknowledgement(topic: str) -> bool:
    """Whether a topic is under a device's `prefix/ack/`, where only ingest publishes (the
    device's ACL forbids the device itself to)."""
    parts = topic.split("/", 6)
    return len(parts) == 7 and parts[5] == ACKNOWLEDGEMENTS and "/".join(parts[:2]) == PREFIX


def parse_ack_topic(topic: str) -> DeviceId:
    """The device of an acknowledgement topic; raise ContractError(Reason.BAD_TOPIC) else."""
    parts = topic.split("/")
    if len(parts) != 7 or "/".join(parts[:2]) != PREFIX or "/".join(parts[5:]) != ACK_SUFFIX:
        raise ContractError(Reason.BAD_TOPIC, [FieldError(
            "topic", f"{topic!r} is not {PREFIX}/<site>/<line>/<device>/{ACK_SUFFIX}")])
    return DeviceId(parts[2], parts[3], parts[4])


def ack_subscription(site: str = "+") -> str:
    """Topic filter for every device's acknowledgements (of one site): for ACLs and tools."""
    return f"{PREFIX}/{site}/+/+/{ACK_SUFFIX}"
