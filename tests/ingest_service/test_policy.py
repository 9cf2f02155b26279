"""The write-error policy against a fake database: split, back off, reject, give up in time."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.influx import BatchTooLarge, InfluxError, Throttled, Unavailable, WriteRejected
from ingest_service.policy import (
    MIN_PART_LINES,
    Backoff,
    ConcurrentWriter,
    Undelivered,
    WritePolicy,
)
from tests.ingest_service.fakes import FakeDatabase
from tests.support.clock import FakeClock

LINES = [f"m,device=d{i} v={i} {1000 + i}" for i in range(16)]


def policy(db: FakeDatabase, clock: FakeClock) -> WritePolicy:
    return WritePolicy(db, clock, Backoff.exact(0.5, 4.0), max_throttle_s=30.0)


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff.exact(0.5, 4.0)
    assert [backoff.delay_after(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def rejecting(bad_lines: set[str]) -> FakeDatabase:
    """A database that refuses a write holding any of `bad_lines`, as a partial write does."""
    def reject(lines: Sequence[str]) -> InfluxError | None:
        found = [line for line in lines if line in bad_lines]
        return WriteRejected(400, f"partial write: {found[0]}") if found else None

    return FakeDatabase(reject)


@given(st.sets(st.integers(0, 15)))
def test_rejected_lines_are_isolated_and_the_rest_stored(bad: set[int]) -> None:
    bad_lines = {LINES[i] for i in bad}
    db = rejecting(bad_lines)
    rejected = policy(db, FakeClock()).deliver(LINES, patience_s=0)
    assert sorted(r.line for r in rejected) == sorted(bad_lines)
    assert all(r.status == 400 and r.line in r.message for r in rejected)
    assert set(db.points.values()) == set(LINES) - bad_lines


def test_too_large_batches_are_halved_until_they_fit() -> None:
    db = FakeDatabase(lambda lines: BatchTooLarge("too large") if len(lines) > 5 else None)
    assert policy(db, FakeClock()).deliver(LINES, patience_s=0) == []
    assert set(db.points.values()) == set(LINES)
    assert max(len(call) for call in db.calls if len(call) <= 5) == 4


def test_a_single_line_too_large_is_rejected_with_413() -> None:
    db = FakeDatabase(lambda lines: BatchTooLarge("too large"))
    rejected = policy(db, FakeClock()).deliver(LINES[:1], patience_s=0)
    assert [(r.line, r.status) for r in rejected] == [(LINES[0], 413)]


def test_throttling_honours_retry_after_and_caps_it() -> None:
    answers: list[InfluxError | None] = [Throttled(7.0, "429"), Throttled(600.0, "503"), None]
    db = FakeDatabase(lambda _lines: answers.pop(0))
    clock = FakeClock()
    assert policy(db, clock).deliver(LINES, patience_s=100) == []
    assert clock.sleeps == [7.0, 30.0]


def test_throttling_without_retry_after_uses_the_backoff() -> None:
    answers: list[InfluxError | None] = [Throttled(None, "429"), Unavailable("502"), None]
    db = FakeDatabase(lambda _lines: answers.pop(0))
    clock = FakeClock()
    policy(db, clock).deliver(LINES, patience_s=100)
    assert clock.sleeps == [0.5, 1.0]


def test_unavailable_past_patience_hands_back_what_was_not_written() -> None:
    calls = 0

    def first_half_only(lines: Sequence[str]) -> InfluxError | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            return BatchTooLarge("split")
        return Unavailable("down") if LINES[-1] in lines else None

    db = FakeDatabase(first_half_only)
    clock = FakeClock()
    with pytest.raises(Undelivered) as caught:
        policy(db, clock).deliver(LINES, patience_s=3.0)
    assert caught.value.lines == LINES[8:]
    assert set(db.points.values()) == set(LINES[:8])
    assert sum(clock.sleeps) <= 3.0
    assert clock.sleeps == [0.5, 1.0]


def test_zero_patience_makes_one_attempt() -> None:
    db = FakeDatabase(lambda _lines: Unavailable("down"))
    with pytest.raises(Undelivered):
        policy(db, FakeClock()).deliver(LINES, patience_s=0)
    assert len(db.calls) == 1


def test_a_success_resets_the_backoff() -> None:
    answers: list[InfluxError | None] = [BatchTooLarge("x"), Unavailable("a"), None,
                                         Unavailable("b"), None]
    db = FakeDatabase(lambda _lines: answers.pop(0))
    clock = FakeClock()
    policy(db, clock).deliver(LINES, patience_s=100)
    assert clock.sleeps == [0.5, 0.5]


MANY = [f"m,device=d{i % 50} v={i} {1000 + i}" for i in range(3000)]


def test_a_large_batch_is_written_as_parts_at_once_and_a_small_one_whole() -> None:
    together = threading.Barrier(3, timeout=5)  # three parts, or a timeout: never one by one

    def meet(lines: Sequence[str]) -> None:
        if len(lines) == 1000:
            together.wait()

    db = FakeDatabase(meet)
    writer = ConcurrentWriter(db, parts=3)
    try:
        writer.write_lines(MANY)
        assert sorted(map(len, db.calls)) == [1000, 1000, 1000]
        assert sorted(line for call in db.calls for line in call) == sorted(MANY)
        assert all(call == MANY[MANY.index(call[0]):][:1000] for call in db.calls)
        db.calls.clear()
        writer.write_lines(MANY[:MIN_PART_LINES])
        assert db.calls == [MANY[:MIN_PART_LINES]]
    finally:
        writer.close()


@pytest.mark.parametrize(("failures", "raised"), [
    ([WriteRejected(400, "bad"), None, None], WriteRejected),
    ([WriteRejected(400, "bad"), BatchTooLarge("big"), None], BatchTooLarge),
    ([None, WriteRejected(400, "bad"), Throttled(1.0, "429")], Throttled),
    ([Throttled(1.0, "429"), Unavailable("down"), WriteRejected(400, "bad")], Unavailable),
])
def test_parts_that_fail_raise_the_error_that_retries_the_most(
        failures: list[InfluxError | None], raised: type[InfluxError]) -> None:
    first_of_part = {MANY[i * 1000]: failure for i, failure in enumerate(failures)}
    db = FakeDatabase(lambda lines: first_of_part[lines[0]])
    writer = ConcurrentWriter(db, parts=3)
    try:
        with pytest.raises(raised):
            writer.write_lines(MANY)
    finally:
        writer.close()
    stored = [i for i, failure in enumerate(failures) if failure is None]
    assert len(db.points) == 1000 * len(stored)  # the parts that succeeded are written


@settings(max_examples=30)
@given(st.sets(st.integers(0, len(MANY) - 1), max_size=5))
def test_through_parallel_parts_rejected_lines_are_still_isolated(bad: set[int]) -> None:
    bad_lines = {MANY[i] for i in bad}
    db = rejecting(bad_lines)
    writer = ConcurrentWriter(db, parts=2)
    try:
        rejected = WritePolicy(writer, FakeClock(), Backoff.exact(0.5, 4.0), 30.0).deliver(
            MANY, patience_s=0)
    finally:
        writer.close()
    assert sorted(r.line for r in rejected) == sorted(bad_lines)
    assert set(db.points.values()) == set(MANY) - bad_lines
