"""The audit ledger: an append-only hash chain of closed-period results.

Each record's body holds the period, the inputs digest, the factor ids, the code version,
the configuration hash, the results and the previous record's hash; its own hash is the
SHA-256 of the canonical body. A recalculation is a new record whose `supersedes` names the
hash of the record it replaces: nothing is ever updated in place. `verify` recomputes every
hash and link and names the first one that does not hold.

Self-consistency alone does not stop a forger who recomputes every hash. Two more layers:
records are signed with the site's Ed25519 key (`carbon.signing`; signatures in their own
table, keyed by seq and hash), and the head is checkpointed outside the ledger
(`Checkpoint`; `loopmeter carbon checkpoint export`): `verify` against a checkpoint detects
a rewrite (the record at its seq has another hash), a truncation (fewer records than it
names) and forged appends after it (unsigned or badly signed records of a signed site).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from carbon.canonical import canonical
from carbon.signing import signature_valid

GENESIS = "sha256:" + "0" * 64
Kind = Literal["close", "recalculation"]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """What a store keeps: position, hash and the canonical body text."""

    seq: int
    hash: str
    site: str
    period: str
    body: str

    def data(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


class LedgerStore(Protocol):
    def append(self, record: StoredRecord, expected_head: str) -> None:
        """Append if the newest stored hash is still `expected_head`; else raise Conflict."""
        ...

    def records(self, after_seq: int = 0) -> Iterator[StoredRecord]:
        """Every record after `after_seq`, in append order."""
        ...

    def head(self) -> StoredRecord | None: ...

    def latest(self, site: str, period: str) -> StoredRecord | None:
        """The newest record for a site and period label, or None."""
        ...

    def closed_periods(self, site: str) -> set[str]:
        """The labels of every period of the site with a record."""
        ...

    def add_signature(self, seq: int, record_hash: str, signature: str) -> None:
        """Keep the signature of the record at `seq` (whose hash is `record_hash`)."""
        ...

    def signatures(self) -> dict[int, tuple[str, str]]:
        """seq -> (record hash, signature) of every signed record."""
        ...


class Conflict(RuntimeError):
    """Someone else appended first; read the head again and retry."""


@dataclass(frozen=True, slots=True)
class Broken:
    seq: int
    reason: str


SignatureState = Literal["valid", "invalid", "unsigned"]
PublicKeys = Callable[[str], Ed25519PublicKey | None]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain head as exported outside the ledger."""

    seq: int
    head_hash: str

    def payload(self) -> dict[str, Any]:
        return {"seq": self.seq, "head_hash": self.head_hash}

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("seq"), int) or not (
                isinstance(data.get("head_hash"), str)):
            raise ValueError("a checkpoint is a JSON object with an integer seq and a head_hash")
        return cls(data["seq"], data["head_hash"])


@dataclass(frozen=True, slots=True)
class Verification:
    records: int
    head: str
    broken: Broken | None
    signatures: Mapping[int, SignatureState] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.broken is None

    def signature_counts(self) -> dict[str, int]:
        counts = {"valid": 0, "invalid": 0, "unsigned": 0}
        for state in self.signatures.values():
            counts[state] += 1
        return counts


class Ledger:
    def __init__(self, store: LedgerStore) -> None:
        self._store = store

    def append(self, *, site: str, period: Mapping[str, Any], kind: Kind,
               content: Mapping[str, Any], recorded_ms: int,
               supersedes: str | None = None) -> StoredRecord:
        head = self._store.head()
        previous = head.hash if head else GENESIS
        body = {"site": site, "period": dict(period), "kind": kind, "supersedes": supersedes,
                "recorded_ms": recorded_ms, "previous": previous, **content}
        text = canonical(body)
        record = StoredRecord((head.seq + 1) if head else 1, digest_text(text), site,
                              str(period["label"]), text)
        self._store.append(record, previous)
        return record

    def latest(self, site: str, period: str) -> StoredRecord | None:
        return self._store.latest(site, period)

    def closed_periods(self, site: str) -> set[str]:
        return self._store.closed_periods(site)

    def records(self, after_seq: int = 0) -> Iterator[StoredRecord]:
        return self._store.records(after_seq)

    def sign(self, record: StoredRecord, signature: str) -> None:
        self._store.add_signature(record.seq, record.hash, signature)

    def head(self) -> StoredRecord | None:
        return self._store.head()

    def verify(self, keys: PublicKeys | None = None,
               checkpoint: Checkpoint | None = None) -> Verification:
        """Every hash and link; with `keys` (site -> public key or None), every record of a
        site that has a key must carry a valid signature; with `checkpoint`, the record at
        its seq must still have its hash and no record may be missing up to it."""
        previous, count = GENESIS, 0
        signed = self._store.signatures()
        states: dict[int, SignatureState] = {}
        for record in self._store.records():
            count += 1
            reason = _check(record, previous, count) or _checkpoint_mismatch(record, checkpoint)
            state = _signature(record, signed.get(record.seq), keys)
            states[record.seq] = state
            if reason is None and keys is not None and state != "valid" and (
                    keys(record.site) is not None):
                reason = (f"signature {state}: not signed by the key of site {record.site} "
                          "(forged, re-hashed or appended without the key)")
            if reason:
                return Verification(count, previous, Broken(record.seq, reason), states)
            previous = record.hash
        if checkpoint is not None and count < checkpoint.seq:
            return Verification(count, previous, Broken(
                count + 1, f"truncated: the checkpoint names record {checkpoint.seq} "
                f"({checkpoint.head_hash}) but the ledger ends at {count}"), states)
        return Verification(count, previous, None, states)


def _checkpoint_mismatch(record: StoredRecord, checkpoint: Checkpoint | None) -> str | None:
    if checkpoint is None or record.seq != checkpoint.seq or (
            record.hash == checkpoint.head_hash):
        return None
    return (f"rewritten: the checkpoint has {checkpoint.head_hash} at record {record.seq}, "
            f"the ledger {record.hash}")


def _signature(record: StoredRecord, stored: tuple[str, str] | None,
               keys: PublicKeys | None) -> SignatureState:
    if stored is None:
        return "unsigned"
    key = keys(record.site) if keys is not None else None
    if key is None or stored[0] != record.hash:
        return "invalid" if key is not None else "unsigned"
    return "valid" if signature_valid(key, record.hash, stored[1]) else "invalid"


def record_verification(verification: Verification, record: StoredRecord) -> dict[str, Any]:
    """What the ledger's verification says of one record, for its report."""
    broken = verification.broken
    chain_ok = broken is None or broken.seq > record.seq
    state = verification.signatures.get(record.seq, "unsigned")
    return {"chain": "ok" if chain_ok else "broken", "signature": state, "seq": record.seq,
            "head_hash": verification.head}


def digest_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check(record: StoredRecord, previous: str, position: int) -> str | None:
    if record.seq != position:
        return f"sequence {record.seq} where {position} was expected (a record is missing)"
    if digest_text(record.body) != record.hash:
        return "body does not match its hash (the record was altered)"
    try:
        body = record.data()
    except ValueError:
        return "body is not valid JSON"
    if canonical(body) != record.body:
        return "body is not in canonical form"
    if body.get("previous") != previous:
        return "previous-hash link does not match the record before it"
    if body.get("site") != record.site or body.get("period", {}).get("label") != record.period:
        return "index columns do not match the body"
    return None


class MemoryStore:
    """A LedgerStore in a list, for unit tests."""

    def __init__(self) -> None:
        self.rows: list[StoredRecord] = []
        self.signed: dict[int, tuple[str, str]] = {}

    def add_signature(self, seq: int, record_hash: str, signature: str) -> None:
        self.signed[seq] = (record_hash, signature)

    def signatures(self) -> dict[int, tuple[str, str]]:
        return dict(self.signed)

    def append(self, record: StoredRecord, expected_head: str) -> None:
        head = self.rows[-1].hash if self.rows else GENESIS
        if head != expected_head:
            raise Conflict("the ledger head moved")
        self.rows.append(record)

    def records(self, after_seq: int = 0) -> Iterator[StoredRecord]:
        return iter([r for r in self.rows if r.seq > after_seq])

    def head(self) -> StoredRecord | None:
        return self.rows[-1] if self.rows else None

    def latest(self, site: str, period: str) -> StoredRecord | None:
        matches = [r for r in self.rows if r.site == site and r.period == period]
        return matches[-1] if matches else None

    def closed_periods(self, site: str) -> set[str]:
        return {r.period for r in self.rows if r.site == site}


_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    site TEXT NOT NULL,
    period TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_site_period ON ledger (site, period, seq);
CREATE TABLE IF NOT EXISTS signatures (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    signature TEXT NOT NULL
);
"""


class SQLiteStore:
    """The ledger in one SQLite file; appends are serialised by an immediate transaction."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        """`create=False` refuses a missing file (verify and report never make a ledger)."""
        if not create and not path.is_file():
            raise FileNotFoundError(f"no ledger at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with closing(self._connect()) as connection:
            connection.executescript(_SCHEMA)

    def add_signature(self, seq: int, record_hash: str, signature: str) -> None:
        with closing(self._connect()) as connection:
            connection.execute("INSERT OR REPLACE INTO signatures (seq, hash, signature) "
                               "VALUES (?, ?, ?)", (seq, record_hash, signature))

    def signatures(self) -> dict[int, tuple[str, str]]:
        with closing(self._connect()) as connection:
            rows = connection.execute("SELECT seq, hash, signature FROM signatures")
            return {seq: (h, sig) for seq, h, sig in rows}

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, isolation_level=None, timeout=30)

    def append(self, record: StoredRecord, expected_head: str) -> None:
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute("SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
            if (row[0] if row else GENESIS) != expected_head:
                connection.execute("ROLLBACK")
                raise Conflict("the ledger head moved")
            connection.execute("INSERT INTO ledger (seq, hash, site, period, body) "
                               "VALUES (?, ?, ?, ?, ?)", (record.seq, record.hash, record.site,
                                                          record.period, record.body))
            connection.execute("COMMIT")

    def records(self, after_seq: int = 0) -> Iterator[StoredRecord]:
        with closing(self._connect()) as connection:
            cursor = connection.execute(
                "SELECT seq, hash, site, period, body FROM ledger WHERE seq > ? ORDER BY seq",
                (after_seq,))
            for row in cursor:
                yield StoredRecord(*row)

    def head(self) -> StoredRecord | None:
        return self._one("SELECT seq, hash, site, period, body FROM ledger "
                         "ORDER BY seq DESC LIMIT 1", ())

    def latest(self, site: str, period: str) -> StoredRecord | None:
        return self._one("SELECT seq, hash, site, period, body FROM ledger WHERE site = ? AND "
                         "period = ? ORDER BY seq DESC LIMIT 1", (site, period))

    def closed_periods(self, site: str) -> set[str]:
        with closing(self._connect()) as connection:
            rows = connection.execute("SELECT DISTINCT period FROM ledger WHERE site = ?",
                                      (site,))
            return {period for (period,) in rows}

    def _one(self, sql: str, args: tuple[str, ...]) -> StoredRecord | None:
        with closing(self._connect()) as connection:
            row = connection.execute(sql, args).fetchone()
        return StoredRecord(*row) if row else None
