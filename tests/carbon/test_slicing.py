"""Cutting a period's readings out of a wider read, by bisection, against the definition."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from carbon.activity import Reading, edge_readings


def _by_definition(readings: tuple[Reading, ...], start: int, end: int,
                   horizon_ms: int) -> tuple[Reading, ...]:
    inside = [r for r in readings if start <= r.ts < end]
    before = [r for r in readings if start - horizon_ms <= r.ts < start][-1:]
    after = [r for r in readings if end <= r.ts < end + horizon_ms][:1]
    return (*before, *inside, *after)


@given(st.lists(st.integers(0, 100)), st.integers(-10, 110), st.integers(0, 50),
       st.integers(0, 40))
def test_edge_readings_are_those_inside_and_the_nearest_within_the_horizon(
        times: list[int], start: int, length: int, horizon_ms: int) -> None:
    readings = tuple(Reading(ts, Decimal(i)) for i, ts in enumerate(sorted(times)))
    assert edge_readings(readings, start, start + length, horizon_ms) == _by_definition(
        readings, start, start + length, horizon_ms)
