"""The audit ledger: chaining, tamper detection and supersession, on both stores."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from carbon.canonical import canonical, decimal_text, digest
from carbon.ledger import (
    GENESIS,
    Conflict,
    Ledger,
    LedgerStore,
    MemoryStore,
    SQLiteStore,
    StoredRecord,
    digest_text,
)

StoreFactory = Callable[[Path], LedgerStore]
STORES: dict[str, StoreFactory] = {"memory": lambda _: MemoryStore(),
                                   "sqlite": lambda tmp: SQLiteStore(tmp / "l" / "ledger.sqlite")}


def fill(ledger: Ledger, count: int) -> list[StoredRecord]:
    return [ledger.append(site="s1", period={"label": f"2026-10-0{i + 1}"}, kind="close",
                          content={"results": {"co2_total_kg": Decimal(f"{i}.50")}},
                          recorded_ms=1000 + i) for i in range(count)]


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerStore:
    return STORES[request.param](tmp_path)


def test_records_chain_from_genesis(store: LedgerStore) -> None:
    records = fill(Ledger(store), 3)
    assert records[0].data()["previous"] == GENESIS
    assert [r.data()["previous"] for r in records[1:]] == [r.hash for r in records[:2]]
    result = Ledger(store).verify()
    assert (result.ok, result.records, result.head) == (True, 3, records[-1].hash)


def test_records_after_a_seq_are_read_from_there(store: LedgerStore) -> None:
    written = fill(Ledger(store), 5)
    assert [r.seq for r in store.records(3)] == [4, 5]
    assert list(store.records(0)) == list(store.records()) == written
    assert list(store.records(5)) == []


def test_closed_periods_are_the_labels_of_a_sites_records(store: LedgerStore) -> None:
    fill(Ledger(store), 3)
    assert store.closed_periods("s1") == {"2026-10-01", "2026-10-02", "2026-10-03"}
    assert store.closed_periods("s2") == set()


def test_recalculation_references_what_it_supersedes(store: LedgerStore) -> None:
    ledger = Ledger(store)
    first = fill(ledger, 1)[0]
    again = ledger.append(site="s1", period={"label": "2026-10-01"}, kind="recalculation",
                          content={"results": {}}, recorded_ms=5, supersedes=first.hash)
    assert ledger.latest("s1", "2026-10-01") == again
    assert again.data()["supersedes"] == first.hash
    assert ledger.verify().ok


def test_append_refuses_a_moved_head(store: LedgerStore) -> None:
    fill(Ledger(store), 1)
    with pytest.raises(Conflict):
        store.append(StoredRecord(2, "sha256:x", "s", "p", "{}"), GENESIS)


def _sqlite(tmp_path: Path, sql: str, *args: object) -> Ledger:
    store = SQLiteStore(tmp_path / "ledger.sqlite")
    fill(Ledger(store), 4)
    with sqlite3.connect(tmp_path / "ledger.sqlite") as connection:
        connection.execute(sql, args)
    return Ledger(store)


@pytest.mark.parametrize("seq", [1, 2, 3, 4])
def test_any_altered_body_is_detected(tmp_path: Path, seq: int) -> None:
    ledger = _sqlite(tmp_path, "UPDATE ledger SET body = replace(body, '.5', '.6') WHERE seq = ?",
                     seq)
    result = ledger.verify()
    assert result.broken is not None
    assert result.broken.seq == seq
    assert "altered" in result.broken.reason


@pytest.mark.parametrize("seq", [1, 2, 3])
def test_rewriting_a_record_and_its_hash_breaks_the_next_link(tmp_path: Path, seq: int) -> None:
    store = SQLiteStore(tmp_path / "ledger.sqlite")
    fill(Ledger(store), 4)
    victim = next(r for r in store.records() if r.seq == seq)
    body = victim.body.replace('"co2_total_kg":"', '"co2_total_kg":"1')
    with sqlite3.connect(tmp_path / "ledger.sqlite") as connection:
        connection.execute("UPDATE ledger SET body = ?, hash = ? WHERE seq = ?",
                           (body, digest_text(body), seq))
    broken = Ledger(store).verify().broken
    assert broken is not None
    assert (broken.seq, "previous-hash link" in broken.reason) == (seq + 1, True)


def test_deleted_record_is_detected(tmp_path: Path) -> None:
    broken = _sqlite(tmp_path, "DELETE FROM ledger WHERE seq = ?", 2).verify().broken
    assert broken is not None
    assert (broken.seq, "missing" in broken.reason) == (3, True)


def test_changed_index_column_is_detected(tmp_path: Path) -> None:
    broken = _sqlite(tmp_path, "UPDATE ledger SET site = 'other' WHERE seq = ?", 3
                     ).verify().broken
    assert broken is not None
    assert broken.seq == 3


def test_canonical_form_is_stable() -> None:
    assert canonical({"b": Decimal("1.50"), "a": [Decimal("1E+2"), None]}) == (
        '{"a":["100",null],"b":"1.5"}')
    assert decimal_text(Decimal("-0.00")) == "0"
    assert digest({"x": 1}) == digest({"x": 1})
    with pytest.raises(TypeError):
        canonical({"x": 1.5})
