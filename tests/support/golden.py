"""Golden files: compare with what is committed, or rewrite it with LOOPMETER_REGEN_GOLDEN=1."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REGENERATE = os.environ.get("LOOPMETER_REGEN_GOLDEN") == "1"


def canonical_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def assert_golden(path: Path, actual: Any) -> None:
    """Fail when `actual` differs from the golden file; regenerate it on request."""
    text = canonical_json(actual)
    if REGENERATE:
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with LOOPMETER_REGEN_GOLDEN=1 to create it"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text), (
        f"{path} differs from the output; if the change is intended, regenerate with "
        "LOOPMETER_REGEN_GOLDEN=1 and review the diff")
