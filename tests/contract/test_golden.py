"""Golden cases for the codec: `golden/<case>/{topic.txt, input.json}` → `expected.json`.

Cases named `bad_*` must be rejected, every other case accepted.
Regenerate the expected files with `LOOPMETER_REGEN_GOLDEN=1 pytest tests/contract`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contract import ContractError, decode, line_protocol, to_points
from tests.contract.strategies import NOW_MS
from tests.support.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def outcome(case: Path) -> dict[str, Any]:
    topic = (case / "topic.txt").read_text().strip()
    payload = (case / "input.json").read_bytes()
    try:
        envelope = decode(topic, payload, now_ms=NOW_MS)
    except ContractError as error:
        return {"reason": error.reason.value,
                "errors": [{"path": e.path, "message": e.message} for e in error.errors]}
    points = to_points(envelope.topic, envelope.message, received_ms=NOW_MS)
    return {"message": envelope.message.model_dump(mode="json"),
            "lines": [line_protocol(p) for p in points]}


def test_there_are_cases_of_both_kinds() -> None:
    assert sum(c.startswith("bad_") for c in CASES) >= 15
    assert sum(not c.startswith("bad_") for c in CASES) >= 6


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case: str) -> None:
    result = outcome(GOLDEN / case)
    assert ("reason" in result) == case.startswith("bad_"), result
    assert_golden(GOLDEN / case / "expected.json", result)
