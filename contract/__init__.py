"""The Loopmeter v1 telemetry contract: topics, payloads, metric catalogue, InfluxDB mapping.

Pure: nothing here does I/O, so equipment makers, the agent, the ingest service and the
tests share one definition of what a valid message is.
"""

from contract.acks import ack_messages, decode_ack, encode_ack, seq_ranges
from contract.catalogue import (
    CATALOGUE,
    CUSTOM_PREFIX,
    Domain,
    EquipmentSpec,
    EquipmentType,
    MetricKind,
    MetricSpec,
    Role,
    metric_spec,
)
from contract.codec import Envelope, Limits, decode, decode_payload, encode
from contract.errors import ContractError, FieldError, Reason
from contract.messages import (
    CONTRACT_VERSION,
    AckMessage,
    AgentInfo,
    BirthMessage,
    DataMessage,
    DeathMessage,
    EventMessage,
    Message,
    MetricDeclaration,
    Sample,
    StatusMessage,
)
from contract.points import Point, line_protocol, to_points
from contract.topics import (
    PREFIX,
    DeviceId,
    MessageKind,
    Topic,
    ack_subscription,
    parse_ack_topic,
    parse_topic,
    shared_subscription,
    subscription,
)

__all__ = [
    "CATALOGUE", "CONTRACT_VERSION", "CUSTOM_PREFIX", "PREFIX", "AckMessage", "AgentInfo",
    "BirthMessage", "ContractError", "DataMessage", "DeathMessage", "DeviceId", "Domain",
    "Envelope", "EquipmentSpec", "EquipmentType", "EventMessage", "FieldError", "Limits",
    "Message", "MessageKind", "MetricDeclaration", "MetricKind", "MetricSpec", "Point", "Reason",
    "Role", "Sample", "StatusMessage", "Topic", "ack_messages", "ack_subscription", "decode",
    "decode_ack", "decode_payload", "encode", "encode_ack", "line_protocol", "metric_spec",
    "parse_ack_topic", "parse_topic", "seq_ranges", "shared_subscription", "subscription",
    "to_points",
]
