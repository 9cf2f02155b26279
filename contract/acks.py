"""End-to-end acknowledgement: sets of data-message seqs as ranges, and the ack codec. No I/O.

Ingest publishes an `AckMessage` on `DeviceId.ack_topic` after the messages it lists are
durable; an agent that subscribes deletes them from its queue then, not on the broker's PUBACK.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from contract.errors import ContractError, FieldError, Reason
from contract.messages import MAX_ACK_RANGES, WIRE, AckMessage

SeqRange = tuple[int, int]
MAX_ACK_BYTES = 65_536  # 1,000 ranges of two 20-digit numbers fit with room to spare


def seq_ranges(seqs: Iterable[int]) -> list[SeqRange]:
    """The seqs as ascending, disjoint, non-adjacent inclusive ranges (duplicates merge)."""
    ranges: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return [(first, last) for first, last in ranges]


def ack_messages(seqs: Iterable[int], ts: int) -> list[AckMessage]:
    """The acknowledgements that confirm `seqs`: one message per 1,000 ranges."""
    ranges = seq_ranges(seqs)
    return [AckMessage(ts=ts, seqs=ranges[start:start + MAX_ACK_RANGES])
            for start in range(0, len(ranges), MAX_ACK_RANGES)]


def encode_ack(message: AckMessage) -> bytes:
    return message.model_dump_json().encode()


def decode_ack(payload: bytes) -> AckMessage:
    """An acknowledgement from the wire; raise ContractError if it is not a valid one."""
    if len(payload) > MAX_ACK_BYTES:
        raise ContractError(Reason.TOO_LARGE, [FieldError(
            "$", f"{len(payload)} bytes exceeds the limit of {MAX_ACK_BYTES}")])
    try:
        return AckMessage.model_validate_json(payload, context=WIRE)
    except ValidationError as error:
        detail = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in detail["loc"]) or "$"
        reason = Reason.INVALID_JSON if detail["type"] == "json_invalid" else Reason.SCHEMA
        raise ContractError(reason, [FieldError(where, detail["msg"])]) from None
