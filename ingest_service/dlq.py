"""Replaying dead letters after a fix: decode them again, write what is valid now, remove it.

A message dead letter is decoded with the current contract; a point dead letter (a line that
InfluxDB refused) is written as it is. What still fails stays in the store, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from contract import ContractError, decode, line_protocol, to_points
from ingest_service.policy import WritePolicy
from ingest_service.storage import DeadLetters, StoredDeadLetter


@dataclass(frozen=True, slots=True)
class ReplayResult:
    replayed: int
    still_invalid: int
    rejected: int


def lines_of(entry: StoredDeadLetter, now_ms: int) -> list[str] | None:
    """The line protocol a dead letter stands for today, or None if it is still invalid."""
    letter = entry.letter
    if entry.truncated:
        return None
    if letter.kind == "point":
        return [letter.payload.decode()]
    try:
        envelope = decode(letter.topic, letter.payload, now_ms=now_ms)
    except ContractError:
        return None
    return [line_protocol(p) for p in to_points(envelope.topic, envelope.message,
                                                letter.received_ms)]


def replay(store: DeadLetters, entries: Iterable[StoredDeadLetter], policy: WritePolicy,
           database: str, now_ms: int, patience_s: float = 30.0) -> ReplayResult:
    """Write every entry that is valid now and remove it; raise Undelivered if InfluxDB is down."""
    owners: dict[str, set[int]] = {}
    valid: set[int] = set()
    invalid = 0
    for entry in entries:
        lines = lines_of(entry, now_ms)
        if lines is None:
            invalid += 1
            continue
        valid.add(entry.id)
        for line in lines:
            owners.setdefault(line, set()).add(entry.id)
    rejected = policy.deliver(list(owners), patience_s, database)
    kept = set().union(*(owners[r.line] for r in rejected))
    done = valid - kept
    store.remove(done)
    return ReplayResult(len(done), invalid, len(kept))
