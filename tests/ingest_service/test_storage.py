"""The SQLite spool and dead-letter store: order, bounds, counts, and survival of a reopen."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_service.storage import DeadLetter, DeadLetters, Spool, open_database


def letter(reason: str, payload: bytes = b"{}") -> DeadLetter:
    return DeadLetter(1000, "loopmeter/v1/s/l/d/data", "message", reason, "why", payload)


def test_the_spool_is_first_in_first_out_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    spool = Spool(open_database(path), max_bytes=10_000)
    spool.append("db", ["a 1", "b 2"])
    spool.append("db", ["c 3"])
    reopened = Spool(open_database(path), max_bytes=10_000)
    assert (reopened.batches, reopened.points, reopened.bytes) == (2, 3, 12)
    first = reopened.oldest()
    assert first is not None and (first.database, first.lines) == ("db", ["a 1", "b 2"])
    reopened.remove(first)
    second = reopened.oldest()
    assert second is not None and second.lines == ["c 3"]
    reopened.remove(second)
    assert reopened.oldest() is None and (reopened.batches, reopened.bytes) == (0, 0)


def test_the_spool_is_bounded_but_always_takes_one_batch(tmp_path: Path) -> None:
    spool = Spool(open_database(tmp_path / "w.sqlite"), max_bytes=10)
    assert spool.has_room(["x" * 100])
    spool.append("db", ["12345"])
    assert spool.has_room(["123"])
    assert not spool.has_room(["1234"])


def test_dead_letters_are_bounded_and_counted_by_reason(tmp_path: Path) -> None:
    store = DeadLetters(open_database(tmp_path / "w.sqlite"), max_entries=3,
                        max_payload_bytes=64)
    store.add([letter("schema"), letter("invalid_json")])
    store.add([letter("schema", b"x" * 100), letter("schema")])
    assert len(store) == 3 and store.evicted() == 1
    assert store.counts() == {"schema": 3, "invalid_json": 1}
    entries = store.entries()
    assert [e.letter.reason for e in entries] == ["invalid_json", "schema", "schema"]
    assert [e.truncated for e in entries] == [False, True, False]
    assert entries[1].letter.payload == b"x" * 64
    assert [e.id for e in store.entries("schema")] == [3, 4]
    store.remove([3])
    assert store.get(3) is None and store.get(4) is not None
    assert [e.id for e in store.iterate(page=1)] == [2, 4]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=5))
def test_the_spool_gives_back_any_lines_as_they_were(tmp_path: Path, lines: list[str]) -> None:
    spool = Spool(open_database(tmp_path / "w.sqlite"), max_bytes=10_000)
    spool.append("db", lines)
    entry = spool.oldest()
    assert entry is not None and entry.lines == lines
    spool.remove(entry)
    assert (spool.batches, spool.points, spool.bytes) == (0, 0, 0)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=st.text(max_size=40), detail=st.text(max_size=40), payload=st.binary(max_size=40))
def test_the_dead_letter_store_takes_any_text_and_bytes(tmp_path: Path, topic: str, detail: str,
                                                       payload: bytes) -> None:
    store = DeadLetters(open_database(tmp_path / "w.sqlite"), max_entries=1000,
                        max_payload_bytes=64)
    store.add([DeadLetter(1, topic, "message", "schema", detail, payload)])
    stored = store.entries()[-1].letter
    assert stored.payload == payload
    assert stored.topic == topic.encode("utf-8", "backslashreplace").decode()


def test_lines_that_start_like_json_come_back_as_they_were(tmp_path: Path) -> None:
    # Found by the property above: a first line "[..." was read back as a JSON array.
    spool = Spool(open_database(tmp_path / "w.sqlite"), max_bytes=10_000)
    lines = ["[\x9b\x83)ª/w\x0f?", "[\x9b\x83)ª/w\x0f?"]
    spool.append("db", lines)
    entry = spool.oldest()
    assert entry is not None and entry.lines == lines
