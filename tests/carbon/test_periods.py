"""Periods inside periods, in the order closing needs them: shortest first."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from carbon.periods import Granularity, parse_period, with_sub_periods

ZONE = ZoneInfo("Asia/Shanghai")


def test_a_day_comes_after_its_quarters_and_hours() -> None:
    day = parse_period("2026-10-05", ZONE)
    periods = with_sub_periods(day, ZONE)
    assert [p.granularity for p in periods] == (
        [Granularity.QUARTER] * 96 + [Granularity.HOUR] * 24 + [Granularity.DAY])
    assert periods[0].start_ms == day.start_ms and periods[95].end_ms == day.end_ms
    assert periods[-1] == day


def test_an_hour_has_four_quarters_and_a_quarter_only_itself() -> None:
    hour = parse_period("2026-10-05T13", ZONE)
    assert [p.label for p in with_sub_periods(hour, ZONE)] == [
        "2026-10-05T13:00", "2026-10-05T13:15", "2026-10-05T13:30", "2026-10-05T13:45",
        "2026-10-05T13"]
    quarter = parse_period("2026-10-05T13:15", ZONE)
    assert with_sub_periods(quarter, ZONE) == [quarter]


def test_a_year_is_labelled_by_its_number_and_brings_its_months() -> None:
    year = parse_period("2026", ZONE)
    assert (year.granularity, year.label) == (Granularity.YEAR, "2026")
    assert year.start_ms == parse_period("2026-01", ZONE).start_ms
    assert year.end_ms == parse_period("2027-01", ZONE).start_ms
    periods = with_sub_periods(year, ZONE)
    assert [p.label for p in periods[:2]] == ["2026-01", "2026-02"]
    assert len(periods) == 13 and periods[-1] == year


@pytest.mark.parametrize("label", ["2026-13", "2026-02-30", "2026-10-05T24", "2026-10-05T13:61",
                                   "26-10", "2026-1", "yesterday", ""])
def test_a_label_that_names_no_period_says_which_labels_do(label: str) -> None:
    with pytest.raises(ValueError, match="is not a period: use 2026, 2026-10"):
        parse_period(label, ZONE)
