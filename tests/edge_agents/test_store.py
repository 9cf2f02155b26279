from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import Sample, seq_ranges
from edge_agents.store import QUEUE_FULL, REJECTED, TOO_OLD, QueueSettings, Store

T0 = 1_780_000_000_000


def _form(seq: int, samples: list[Sample]) -> tuple[str, bytes]:
    return "t", f"{seq}:{[s.ts for s in samples]}".encode()


def _store(path: Path, max_samples: int = 1000, max_age_s: float = 3600) -> Store:
    return Store(path / "q.sqlite", QueueSettings(max_samples=max_samples, max_age_s=max_age_s))


def _fill(store: Store, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        store.add_sample(Sample(ts=T0 + i * 1000, values={"power_kw": float(i)}))


def test_seal_takes_consecutive_seqs_that_survive_a_crash(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _fill(store, 7)
    assert [store.seal(_form, 3, False) for _ in range(4)] == [0, 1, 2, None]
    session = store.new_session()
    # No close: a second process opens the file as after kill -9.
    reopened = _store(tmp_path)
    assert reopened.next_seq == 3
    assert reopened.new_session() == session + 1
    assert reopened.depth == 7
    assert [r.payload for r in reopened.due(False, 0, 10)] == [
        f"0:{[T0, T0 + 1000, T0 + 2000]}".encode(), f"1:{[T0 + 3000, T0 + 4000, T0 + 5000]}"
        .encode(), f"2:{[T0 + 6000]}".encode()]


def test_ack_deletes_and_ids_never_repeat(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _fill(store, 2)
    store.seal(_form, 1, False)
    first = store.due(False, 0, 10)[0]
    store.ack(first.id)
    store.seal(_form, 1, True)
    (second,) = store.due(True, 0, 10)
    assert second.id > first.id and store.depth == 1
    assert store.due(False, 0, 10) == []


def test_size_bound_drops_the_oldest_messages_and_counts_their_samples(tmp_path: Path) -> None:
    store = _store(tmp_path, max_samples=10)
    for start in range(0, 12, 4):
        _fill(store, 4, start)
        store.seal(_form, 4, True)
    assert store.depth == 8  # 12 samples: the first message of 4 went
    assert store.dropped == {QUEUE_FULL: 4}
    assert store.oldest_ts() == T0 + 4000


def test_size_bound_drops_pending_samples_when_no_message_is_left(tmp_path: Path) -> None:
    store = _store(tmp_path, max_samples=3)
    _fill(store, 5)
    assert store.dropped == {QUEUE_FULL: 2}
    assert store.first_pending_ts() == T0 + 2000


def test_age_bound_drops_old_messages_and_samples(tmp_path: Path) -> None:
    store = _store(tmp_path, max_age_s=10)
    _fill(store, 5)
    store.seal(_form, 5, True)
    _fill(store, 5, start=5)
    store.expire(T0 + 17_000)
    assert store.dropped == {TOO_OLD: 7}
    assert store.depth == 3 and store.oldest_ts() == T0 + 7000


def test_rejected_messages_are_counted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _fill(store, 2)
    store.seal(_form, 2, False)
    store.reject(store.due(False, 0, 1)[0].id)
    assert store.dropped == {REJECTED: 2} and store.depth == 0


@given(st.sets(st.integers(min_value=0, max_value=19)), st.sets(st.integers(0, 19)))
@settings(max_examples=25, deadline=None,  # SQLite on a shared machine: time varies
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_confirming_seqs_deletes_exactly_those_messages_once(
        tmp_path_factory: pytest.TempPathFactory, first: set[int], second: set[int]) -> None:
    store = _store(tmp_path_factory.mktemp("confirm"))
    _fill(store, 40)
    for _ in range(20):
        store.seal(_form, 2, False)
    assert store.confirm(seq_ranges(first)) == (len(first), 2 * len(first))
    again = second - first
    assert store.confirm(seq_ranges(second)) == (len(again), 2 * len(again))
    left = sorted(row.seq for row in store.due(False, 0, 100) if row.seq is not None)
    assert left == sorted(set(range(20)) - first - second)
    assert store.depth == 2 * len(left)


def test_a_queue_made_before_acknowledgements_gains_the_seq_column(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT "
                      "NOT NULL, payload BLOB NOT NULL, samples INTEGER NOT NULL, first_ts "
                      "INTEGER NOT NULL, historical INTEGER NOT NULL);"
                      "INSERT INTO outbox (topic, payload, samples, first_ts, historical) "
                      "VALUES ('t', x'00', 1, 0, 0);")
    old.commit()
    old.close()
    store = _store(tmp_path)
    (legacy,) = store.due(False, 0, 10)
    assert legacy.seq is None  # confirmed by no ack: the broker's PUBACK deletes it
    _fill(store, 1)
    store.seal(_form, 1, False)
    assert [row.seq for row in store.due(False, 0, 10)] == [None, 0]
