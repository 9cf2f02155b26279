from __future__ import annotations

import pytest

from simulators.units import parse_duration, parse_timestamp_ms


@pytest.mark.parametrize(("text", "seconds"), [
    ("1d", 86_400), ("2h30m", 9_000), ("90s", 90), ("250ms", 0.25), ("15", 15), (42, 42),
])
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h", "1h 2y"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_timestamps_need_an_offset() -> None:
    assert parse_timestamp_ms("2026-03-02T00:00:00+08:00") == 1_772_380_800_000
    with pytest.raises(ValueError, match="offset"):
        parse_timestamp_ms("2026-03-02T00:00:00")
