"""The agent's durable queue (SQLite, WAL): samples first, then formed messages until acked.

Every sample is written here before anything else happens to it. Samples are sealed into a
data message in the same transaction that takes the device's next sequence number, so a
`kill -9` at any instant neither loses a sample nor reuses a seq, and a message is replayed
byte for byte as it was first formed. Rows leave only when they are acknowledged (by ingest's
end-to-end confirmation of their seq, or by the broker's PUBACK where there is none), or when
a bound (samples, age) drops the oldest, which is counted by reason.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from contract import Sample

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,
                                    body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,
                                   payload BLOB NOT NULL, samples INTEGER NOT NULL,
                                   first_ts INTEGER NOT NULL, historical INTEGER NOT NULL);
"""
# Queues made before end-to-end acknowledgement lack the seq column; it is added on open.
_SEQ_COLUMN = "ALTER TABLE outbox ADD COLUMN seq INTEGER"
_SEQ_INDEX = "CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq)"
QUEUE_FULL = "queue_full"
TOO_OLD = "too_old"
REJECTED = "rejected"


class QueueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_samples: int = Field(1_000_000, ge=1, description="Most samples kept while the broker "
                                                          "is unreachable; beyond, the oldest "
                                                          "are dropped and counted.")
    max_age_s: float = Field(7 * 86_400, gt=0, description="Samples older than this are "
                                                            "dropped and counted.")


@dataclass(frozen=True, slots=True)
class Row:
    """One formed message waiting for the broker's acknowledgement."""

    id: int
    topic: str
    payload: bytes
    samples: int
    historical: bool
    seq: int | None = None  # a data message's seq; None for an event


Former = Callable[[int, list[Sample]], tuple[str, bytes]]


class Store:
    def __init__(self, path: Path, settings: QueueSettings) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One thread uses the store at a time (the agent's); it may not be the creating one.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of the process (kill -9), not of the OS.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "seq" not in columns:
            self._db.execute(_SEQ_COLUMN)
        self._db.execute(_SEQ_INDEX)
        self._settings = settings
        self.depth = self._scalar("SELECT COUNT(*) FROM samples") + self._scalar(
            "SELECT COALESCE(SUM(samples), 0) FROM outbox")

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------ counters

    def _scalar(self, sql: str, *args: object) -> int:
        row = self._db.execute(sql, args).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _meta(self, key: str) -> int:
        return self._scalar("SELECT value FROM meta WHERE key = ?", key)

    def _add_meta(self, key: str, amount: int) -> None:
        self._db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                         "SET value = value + excluded.value", (key, amount))

    @property
    def next_seq(self) -> int:
        return self._meta("next_seq")

    def new_session(self) -> int:
        """The number of a new connection: one more than the last, across restarts."""
        self._add_meta("session", 1)
        return self._meta("session")

    @property
    def dropped(self) -> dict[str, int]:
        """Samples dropped since the queue was created, by reason."""
        rows = self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped:%'")
        return {key.removeprefix("dropped:"): int(value) for key, value in rows}

    def oldest_ts(self) -> int | None:
        for sql in ("SELECT first_ts FROM outbox ORDER BY id LIMIT 1",
                    "SELECT ts FROM samples ORDER BY id LIMIT 1"):
            row = self._db.execute(sql).fetchone()
            if row:
                return int(row[0])
        return None

    # ------------------------------------------------------------ writing

    def add_sample(self, sample: Sample) -> None:
        self._db.execute("INSERT INTO samples (ts, body) VALUES (?, ?)",
                         (sample.ts, json.dumps(sample.values)))
        self.depth += 1
        self._bound_size()

    @property
    def pending(self) -> int:
        """Samples not yet sealed into a message."""
        return self._scalar("SELECT COUNT(*) FROM samples")

    def first_pending_ts(self) -> int | None:
        row = self._db.execute("SELECT ts FROM samples ORDER BY id LIMIT 1").fetchone()
        return int(row[0]) if row else None

    def seal(self, form: Former, limit: int, historical: bool) -> int | None:
        """Form the oldest `limit` pending samples into a message with the next seq."""
        rows = self._db.execute("SELECT id, ts, body FROM samples ORDER BY id LIMIT ?",
                                (limit,)).fetchall()
        if not rows:
            return None
        samples = [Sample(ts=ts, values=json.loads(body)) for _, ts, body in rows]
        seq = self.next_seq
        topic, payload = form(seq, samples)
        with self._transaction():
            self._db.execute("DELETE FROM samples WHERE id <= ?", (rows[-1][0],))
            self._insert(topic, payload, len(samples), samples[0].ts, historical, seq)
            self._add_meta("next_seq", 1)
        return seq

    def add_message(self, topic: str, payload: bytes, ts: int, historical: bool) -> None:
        """Queue a message that carries no samples (an event)."""
        self._insert(topic, payload, 0, ts, historical)

    def _insert(self, topic: str, payload: bytes, samples: int, ts: int, hist: bool,
                seq: int | None = None) -> None:
        self._db.execute("INSERT INTO outbox (topic, payload, samples, first_ts, historical, "
                         "seq) VALUES (?, ?, ?, ?, ?, ?)",
                         (topic, payload, samples, ts, int(hist), seq))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------ reading, acknowledging

    def due(self, historical: bool, after_id: int, limit: int) -> list[Row]:
        rows = self._db.execute(
            "SELECT id, topic, payload, samples, seq FROM outbox WHERE historical = ? AND id > ? "
            "ORDER BY id LIMIT ?", (int(historical), after_id, limit))
        return [Row(i, t, bytes(p), n, historical, q) for i, t, p, n, q in rows]

    def ack(self, row_id: int) -> None:
        rows = self._db.execute("DELETE FROM outbox WHERE id = ? RETURNING samples",
                                (row_id,)).fetchall()
        self.depth -= sum(n for (n,) in rows)

    def confirm(self, ranges: Sequence[tuple[int, int]]) -> tuple[int, int]:
        """Delete the data messages whose seq is in one of the inclusive ranges: ingest has
        them durably. The messages and samples deleted (a repeated confirmation deletes none)."""
        messages = samples = 0
        with self._transaction():
            for first, last in ranges:
                rows = self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ? "
                                        "RETURNING samples", (first, last)).fetchall()
                messages += len(rows)
                samples += sum(n for (n,) in rows)
        self.depth -= samples
        return messages, samples

    def reject(self, row_id: int) -> None:
        """The broker refused the message for good: drop it and count it."""
        self._drop_rows("id = ?", (row_id,), REJECTED)

    # ------------------------------------------------------------ bounds

    def expire(self, now_ms: int) -> None:
        cutoff = now_ms - round(self._settings.max_age_s * 1000)
        self._drop_rows("first_ts < ?", (cutoff,), TOO_OLD)
        dropped = self._db.execute("DELETE FROM samples WHERE ts < ?", (cutoff,)).rowcount
        self._count(TOO_OLD, dropped)

    def _bound_size(self) -> None:
        while self.depth > self._settings.max_samples:
            oldest = self._db.execute("SELECT id FROM outbox WHERE samples > 0 "
                                      "ORDER BY id LIMIT 1").fetchone()
            if oldest:
                self._drop_rows("id = ?", (oldest[0],), QUEUE_FULL)
            else:
                excess = self.depth - self._settings.max_samples
                dropped = self._db.execute("DELETE FROM samples WHERE id IN (SELECT id FROM "
                                           "samples ORDER BY id LIMIT ?)", (excess,)).rowcount
                self._count(QUEUE_FULL, dropped)

    def _drop_rows(self, where: str, args: tuple[int, ...], reason: str) -> None:
        with self._transaction():
            samples = self._db.execute(f"DELETE FROM outbox WHERE {where} "
                                       "RETURNING samples", args).fetchall()
            self._count(reason, sum(n for (n,) in samples))

    def _count(self, reason: str, samples: int) -> None:
        if samples:
            self._add_meta(f"dropped:{reason}", samples)
            self.depth -= samples

