"""The published JSON Schemas: valid, current, and in agreement with the decoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from contract.docs import catalogue_markdown
from contract.schema import json_schemas
from loopmeter.cli import app

ROOT = Path(__file__).parents[2]
GOLDEN = Path(__file__).parent / "golden"


def test_cli_writes_a_valid_schema_per_kind(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["contract", "schema", "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"{k}.schema.json" for k in ("data", "birth", "death", "status",
                                                           "event", "ack"))
    for path in tmp_path.iterdir():
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_committed_schemas_are_current() -> None:
    for kind, schema in json_schemas().items():
        committed = json.loads((ROOT / "docs/schemas" / f"{kind}.schema.json").read_text())
        assert committed == schema, f"run `loopmeter contract schema` to update {kind}"


VALID_CASES = sorted(p.name for p in GOLDEN.iterdir() if not p.name.startswith("bad_"))


@pytest.mark.parametrize("case", VALID_CASES)
def test_valid_golden_payloads_satisfy_the_schema(case: str) -> None:
    kind = (GOLDEN / case / "topic.txt").read_text().strip().rsplit("/", 1)[-1]
    payload = json.loads((GOLDEN / case / "input.json").read_text())
    assert list(Draft202012Validator(json_schemas()[kind]).iter_errors(payload)) == []


def test_schema_rejects_a_payload_of_the_wrong_shape() -> None:
    payload = json.loads((GOLDEN / "bad_wrong_types" / "input.json").read_text())
    assert list(Draft202012Validator(json_schemas()["data"]).iter_errors(payload))


def test_committed_catalogue_reference_is_current() -> None:
    committed = (ROOT / "docs/catalogue.md").read_text(encoding="utf-8")
    assert committed == catalogue_markdown(), "run `loopmeter contract catalogue --output " \
        "docs/catalogue.md` to update it"
