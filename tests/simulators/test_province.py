"""`loopmeter sim province` writes profile files that the reports' validation accepts."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from contract.site_profile import load_profiles
from simulators.cli import app
from simulators.province import province


def test_province_profiles_are_written_and_valid(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["province", "--out", str(tmp_path), "--sites", "21"])
    assert result.exit_code == 0, result.output
    loaded = load_profiles(tmp_path)
    assert loaded == {p.site: p for p in province(21)}
    assert len({p.name_zh for p in loaded.values()}) == 21
