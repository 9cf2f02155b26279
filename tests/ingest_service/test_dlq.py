"""Replaying dead letters with a fake database: what is valid now goes, the rest stays."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from adapters.backoff import Backoff
from adapters.influx import InfluxError, WriteRejected
from ingest_service.dlq import replay
from ingest_service.policy import WritePolicy
from ingest_service.storage import DeadLetter, DeadLetters, open_database
from tests.ingest_service.fakes import FakeDatabase
from tests.ingest_service.support import data_payload
from tests.support.clock import FakeClock

TOPIC = "loopmeter/v1/s1/l1/m1/data"
NOW_MS = 1_700_000_000_000


def test_replay_removes_only_what_is_stored_now(tmp_path: Path) -> None:
    store = DeadLetters(open_database(tmp_path / "w.sqlite"), 100, 10_000)
    store.add([
        DeadLetter(1, TOPIC, "message", "unknown_metric", "", data_payload(0, NOW_MS - 5000, 3)),
        DeadLetter(2, TOPIC, "message", "invalid_json", "", b"{"),
        DeadLetter(3, TOPIC, "point", "influx_rejected", "", b"telemetry,device=m1 x=1 5"),
        DeadLetter(4, TOPIC, "point", "influx_rejected", "", b'telemetry,device=m1 y="a" 6'),
    ])

    def still_conflicting(lines: Sequence[str]) -> InfluxError | None:
        return WriteRejected(400, "field type conflict") if any("y=" in x for x in lines) else None

    db = FakeDatabase(still_conflicting)
    policy = WritePolicy(db, FakeClock(), Backoff.exact(0.1, 1.0), 10.0)
    result = replay(store, list(store.iterate()), policy, "db", NOW_MS)
    assert (result.replayed, result.still_invalid, result.rejected) == (2, 1, 1)
    assert [e.id for e in store.entries()] == [2, 4]
    assert len(db.points) == 4  # three samples and the repaired point
