"""`loopmeter demo`: the day it picks, and one full run through the real services."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from loopmeter.demo import (
    AFTER_DAY_MS,
    DemoOptions,
    demo_day,
    device_table,
    relative_error,
    result_table,
    run_demo,
    truth_by_line,
)
from loopmeter.services import LocalServices
from simulators.truth import TruthRow

CST = timezone(timedelta(hours=8))


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.mark.parametrize(("now", "day"), [
    (datetime(2026, 11, 28, 15, 0, tzinfo=CST), datetime(2026, 11, 27, tzinfo=CST)),
    (datetime(2026, 11, 28, 0, 5, tzinfo=CST), datetime(2026, 11, 26, tzinfo=CST)),
    (datetime(2026, 11, 28, 0, 10, tzinfo=CST), datetime(2026, 11, 27, tzinfo=CST)),
    (datetime(2026, 3, 1, 1, 0, tzinfo=CST), datetime(2026, 2, 28, tzinfo=CST)),
])
def test_the_day_is_the_last_whose_readings_after_midnight_are_in_the_past(
        now: datetime, day: datetime) -> None:
    chosen = demo_day(ms(now), 8)
    assert chosen == day
    assert ms(chosen) + 86_400_000 + AFTER_DAY_MS <= ms(now)


def row(line: str, device_type: str, end_ms: int, kwh: float) -> TruthRow:
    return TruthRow("s", line, "d", device_type, end_ms - 900_000, end_ms, kwh, 0, 0, 0, 0, 0,
                    0, 0, 0, 0, "")


def test_truth_leaves_out_meters_and_what_is_after_the_day() -> None:
    rows = [row("a", "crusher_station", 1000, 1.5), row("a", "electricity_meter", 1000, 9),
            row("a", "crusher_station", 2000, 0.25), row("a", "crusher_station", 2001, 7)]
    assert truth_by_line(rows, 2000)["a"]["electricity_kwh"] == Decimal("1.75")


def test_relative_error_is_undefined_without_truth_or_figure() -> None:
    assert relative_error(Decimal(99), Decimal(100)) == Decimal("0.01")
    assert relative_error(None, Decimal(100)) is None
    assert relative_error(Decimal(1), Decimal(0)) is None


@pytest.mark.integration
def test_demo_closes_a_plant_day_that_matches_the_ground_truth_and_again(
        services: LocalServices, influx_db: str, tmp_path: Path) -> None:
    console = Console(record=True, width=140)
    options = DemoOptions(speed=4 * 1440, state_dir=tmp_path, database=influx_db)
    result = run_demo(options, console, services)
    assert result.ledger_ok
    assert [(d.line, d.device) for d in result.devices] == [
        ("fixed", "coarse-scale"), ("fixed", "crusher-1"), ("fixed", "infeed-scale"),
        ("fixed", "main-meter"), ("mobile", "mobile-1")]
    day_start = int(datetime.fromisoformat(result.day).replace(tzinfo=CST).timestamp() * 1000)
    for device in result.devices:
        # Every device samples at least once a minute, all day long (its agent connects a
        # few plant-minutes into the day at this speed).
        assert device.samples >= 23 * 60, device
        assert device.first_ms <= day_start + 600_000, device
        assert device.last_ms >= day_start + 86_400_000, device
    assert set(result.lines) == set(result.truth) == {"fixed", "mobile"}
    for line, truth in result.truth.items():
        for column, true in truth.items():
            measured = result.lines[line][column]
            assert measured is not None
            # Register resolution, the skewed mobile clock at the day's edges and the
            # estimated first seconds of the day: 1 % as in the engine's plant-day test.
            assert abs(measured - true) <= Decimal("0.01") * true + Decimal("0.05"), (
                line, column, measured, true)
    page = result.report.read_text(encoding="utf-8")
    assert result.site in page and "统一社会信用代码" in page  # the document, with its entity
    assert result.chart.read_text(encoding="utf-8").count('class="computed"') == 2 * 4

    again = run_demo(options, Console(record=True, width=140), services)
    assert (again.day, again.lines, again.truth) == (result.day, result.lines, result.truth)
    assert again.devices == result.devices

    narrow = Console(record=True, width=80)
    narrow.print(device_table(result), result_table(result))
    shown = narrow.export_text()
    assert "coarse-scale" in shown and "Δ truth" in shown
    assert "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 80
