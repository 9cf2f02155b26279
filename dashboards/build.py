"""Render the dashboards to the committed JSON files, and tell which files are stale."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import data_quality, energy_carbon, line_detail, plant_overview, regulator

GENERATED = Path(__file__).parent / "generated"
BUILDERS: tuple[Callable[[], Dashboard], ...] = (
    plant_overview.build, line_detail.build, energy_carbon.build, data_quality.build,
    regulator.build)


def dashboards() -> list[Dashboard]:
    """Every dashboard, its panels numbered in order (Grafana links to a panel by id)."""
    boards = [build() for build in BUILDERS]
    for board in boards:
        for number, panel in enumerate(board.panels or [], start=1):
            panel.id_val = number
    return boards


def to_dict(board: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, plain data only."""
    data: dict[str, Any] = json.loads(json.dumps(board, cls=JSONEncoder))
    return data


def render(board: Dashboard) -> str:
    """The committed form: sorted keys, two-space indent, a final newline."""
    return json.dumps(to_dict(board), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """File name to content, for every dashboard."""
    return {f"{board.uid}.json": render(board) for board in dashboards()}


def stale(folder: Path = GENERATED) -> list[str]:
    """Files in `folder` that differ from what the code generates, are missing, or are extra."""
    expected = generate()
    present = {p.name for p in folder.glob("*.json")}
    changed = [name for name, text in expected.items()
               if name not in present or (folder / name).read_text(encoding="utf-8") != text]
    return sorted(changed + sorted(present - expected.keys()))


def write(folder: Path = GENERATED) -> list[str]:
    """Regenerate every file in `folder`, removing JSON no dashboard produces; return names."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = generate()
    for extra in {p.name for p in folder.glob("*.json")} - expected.keys():
        (folder / extra).unlink()
    for name, text in expected.items():
        (folder / name).write_text(text, encoding="utf-8")
    return sorted(expected)
