"""The worker's durable local state in one SQLite file: the spool and the dead letters.

Both are bounded. Commits are synchronous (WAL, synchronous=FULL): once `append` or `add`
returns, the data survives a crash of the process or the machine, so the messages it came
from may be acknowledged.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ingest_service.settings import DeadLetterSettings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT, database TEXT NOT NULL, lines BLOB NOT NULL,
    points INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL, topic TEXT NOT NULL,
    kind TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL,
    truncated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter_counts (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def open_database(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One thread uses the connection at a time; it is created before that thread starts.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.executescript(_SCHEMA)
    return connection


def worker_database(state_dir: Path, worker: int) -> Path:
    return state_dir / f"ingest-{worker}.sqlite"


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    id: int
    database: str
    lines: list[str]


class Spool:
    """Batches of line protocol, oldest first, bounded by their total size in bytes."""

    def __init__(self, connection: sqlite3.Connection, max_bytes: int) -> None:
        self._db = connection
        self._max_bytes = max_bytes
        batches, size, points = self._db.execute(
            "SELECT count(*), coalesce(sum(bytes), 0), coalesce(sum(points), 0) FROM spool"
        ).fetchone()
        self.batches: int = batches
        self.bytes: int = size
        self.points: int = points

    def has_room(self, lines: Sequence[str]) -> bool:
        return self.batches == 0 or self.bytes + _size(lines) <= self._max_bytes

    def append(self, database: str, lines: Sequence[str]) -> None:
        blob = _pack(lines)
        size = _size(lines)
        with _transaction(self._db):
            self._db.execute("INSERT INTO spool (database, lines, points, bytes) "
                             "VALUES (?, ?, ?, ?)", (database, blob, len(lines), size))
        self.batches, self.bytes, self.points = (self.batches + 1, self.bytes + size,
                                                 self.points + len(lines))

    def oldest(self) -> SpoolEntry | None:
        row = self._db.execute(
            "SELECT id, database, lines FROM spool ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        return SpoolEntry(row[0], row[1], _unpack(row[2]))

    def remove(self, entry: SpoolEntry) -> None:
        with _transaction(self._db):
            self._db.execute("DELETE FROM spool WHERE id = ?", (entry.id,))
        self.batches, self.bytes, self.points = (self.batches - 1,
                                                 self.bytes - _size(entry.lines),
                                                 self.points - len(entry.lines))


def _size(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _pack(lines: Sequence[str]) -> bytes:
    """Lines joined by newlines; a batch where a line holds a newline itself (a string field
    may), or whose first line starts like a JSON array, is stored as a JSON array instead."""
    text = "\n".join(lines)
    if text.count("\n") != len(lines) - 1 or text.startswith("["):
        text = json.dumps(list(lines))
    return zlib.compress(text.encode("utf-8", "surrogatepass"), 1)


def _unpack(blob: bytes) -> list[str]:
    text = zlib.decompress(blob).decode("utf-8", "surrogatepass")
    if text.startswith("["):
        lines: list[str] = json.loads(text)
        return lines
    return text.split("\n")


def _text(value: str) -> str:
    """Any str as SQLite can store it: lone surrogates (from JSON escapes) as escapes."""
    return value.encode("utf-8", "backslashreplace").decode()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message (kind `message`, raw payload) or point (kind `point`, its line) not stored."""

    received_ms: int
    topic: str
    kind: str
    reason: str
    detail: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    letter: DeadLetter
    truncated: bool


class DeadLetters:
    """Bounded store of dead letters, with counts by reason that survive eviction."""

    def __init__(self, connection: sqlite3.Connection, max_entries: int,
                 max_payload_bytes: int) -> None:
        self._db = connection
        self._max_entries = max_entries
        self._max_payload = max_payload_bytes

    @classmethod
    def configured(cls, connection: sqlite3.Connection,
                   settings: DeadLetterSettings) -> DeadLetters:
        return cls(connection, settings.max_entries, settings.max_payload_bytes)

    def add(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        with _transaction(self._db):
            self._db.executemany(
                "INSERT INTO dead_letters (received_ms, topic, kind, reason, detail, payload, "
                "truncated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(d.received_ms, _text(d.topic), d.kind, d.reason, _text(d.detail),
                  d.payload[:self._max_payload], len(d.payload) > self._max_payload)
                 for d in letters])
            self._db.executemany(
                "INSERT INTO dead_letter_counts VALUES (?, 1) "
                "ON CONFLICT(reason) DO UPDATE SET count = count + 1",
                [(d.reason,) for d in letters])
            evicted = self._db.execute(
                "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?",
                (self._max_entries,)).rowcount
            if evicted:
                self._db.execute("INSERT INTO counters VALUES ('evicted', ?) ON CONFLICT(name) "
                                 "DO UPDATE SET value = value + excluded.value", (evicted,))

    def counts(self) -> dict[str, int]:
        """Dead letters ever added, by reason (evicted ones included)."""
        return dict(self._db.execute("SELECT reason, count FROM dead_letter_counts"))

    def evicted(self) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = 'evicted'").fetchone()
        return int(row[0]) if row else 0

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def entries(self, reason: str | None = None, limit: int = 100,
             after_id: int = 0) -> list[StoredDeadLetter]:
        rows = self._db.execute(
            "SELECT id, received_ms, topic, kind, reason, detail, payload, truncated "
            "FROM dead_letters WHERE id > ? AND (? IS NULL OR reason = ?) ORDER BY id LIMIT ?",
            (after_id, reason, reason, limit))
        return [_stored(row) for row in rows]

    def get(self, entry_id: int) -> StoredDeadLetter | None:
        row = self._db.execute(
            "SELECT id, received_ms, topic, kind, reason, detail, payload, truncated "
            "FROM dead_letters WHERE id = ?", (entry_id,)).fetchone()
        return _stored(row) if row else None

    def iterate(self, reason: str | None = None, page: int = 500) -> Iterator[StoredDeadLetter]:
        after = 0
        while batch := self.entries(reason, page, after):
            yield from batch
            after = batch[-1].id

    def remove(self, ids: Iterable[int]) -> None:
        with _transaction(self._db):
            self._db.executemany("DELETE FROM dead_letters WHERE id = ?", [(i,) for i in ids])


def _stored(row: tuple[int, int, str, str, str, str, bytes, int]) -> StoredDeadLetter:
    return StoredDeadLetter(row[0], DeadLetter(*row[1:7]), bool(row[7]))


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
