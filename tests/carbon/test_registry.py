"""The factor registry: shipped rows, validation, append-only law."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from carbon.registry import RegistryError, Status, load_registry, parse_registry
from tests.support.golden import REGENERATE, assert_golden

GOLDEN = Path(__file__).parent / "golden" / "factor_values.json"

ROW = {"id": "grid.test.2023", "kind": "grid_co2", "subject": "henan", "value": "0.5",
       "unit": "kgCO2/kWh", "data_year": 2023, "publisher": "MEE", "document": "doc",
       "use_class": "inventory-location", "status": "V"}


def text(*rows: dict[str, object]) -> str:
    return yaml.safe_dump({"registry_version": 1, "factors": list(rows)})


def test_shipped_registry_loads_with_sources_and_status() -> None:
    registry = load_registry()
    assert len(registry.factors) >= 30
    for factor in registry.factors:
        assert factor.document and factor.publisher and factor.unit
        assert factor.status in Status
    assert {f.status for f in registry.factors} == set(Status)


def test_rows_are_only_ever_added() -> None:
    """Every id in the golden file keeps its value; regenerating only records new rows."""
    current = {f.id: str(f.value) for f in load_registry().factors}
    pinned = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.exists() else {}
    changed = {k: (v, current.get(k)) for k, v in pinned.items() if current.get(k) != v}
    assert not changed, f"factor rows changed or removed (add a new row instead): {changed}"
    if REGENERATE:
        assert_golden(GOLDEN, current)
    assert set(current) == set(pinned) or REGENERATE, "new rows: regenerate the golden file"


@pytest.mark.parametrize(("change", "message"), [
    ({"value": 0.5}, "quote the value"),
    ({"value": "-1"}, "greater than 0"),
    ({"status": "maybe"}, "status"),
    ({"use_class": "anything"}, "use_class"),
    ({"id": "Bad Id"}, "id"),
    ({"valid_from": "2025-01-01", "valid_to": "2024-01-01"}, "valid_to"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_rows_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_registry(text({**ROW, **change}))


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(RegistryError, match="appears twice"):
        parse_registry(text(ROW, ROW))


def test_missing_field_is_refused() -> None:
    row = {k: v for k, v in ROW.items() if k != "document"}
    with pytest.raises(RegistryError, match="document"):
        parse_registry(text(row))
