"""The audit ledger: an append-only hash chain of closed-period results.

Each record's body holds the period, the inputs digest, the factor ids, the code version,
the configuration hash, the results and the previous record's hash; its own hash is the
SHA-256 of the canonical body. A recalculation is a new record whose `supersedes` names the
hash of the record it replaces: nothing is ever updated in place. `verify` recomputes every
hash and link and names the first one that does not hold.

The chain protects every record but the newest against undetected rewriting: publish or
archive the head hash (`loopmeter carbon verify` prints it) to protect that one too.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from carbon.canonical import canonical

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


class Conflict(RuntimeError):
    """Someone else appended first; read the head again and retry."""


@dataclass(frozen=True, slots=True)
class Broken:
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class Verification:
    records: int
    head: str
    broken: Broken | None

    @property
    def ok(self) -> bool:
        return self.broken is None


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

    def verify(self) -> Verification:
        previous, count = GENESIS, 0
        for record in self._store.records():
            count += 1
            reason = _check(record, previous, count)
            if reason:
                return Verification(count, previous, Broken(record.seq, reason))
            previous = record.hash
        return Verification(count, previous, None)


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
"""


class SQLiteStore:
    """The ledger in one SQLite file; appends are serialised by an immediate transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with closing(self._connect()) as connection:
            connection.executescript(_SCHEMA)

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
