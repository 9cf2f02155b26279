"""Registers: what they show versus what really flowed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.counters import Register, RegisterConfig

amounts = st.lists(st.floats(0, 500, allow_nan=False), max_size=200)


def test_register_truncates_to_its_resolution() -> None:
    register = Register(RegisterConfig(resolution=0.01))
    register.add(1.23999)
    assert register.shown() == 1.23


def test_register_rolls_over_at_its_maximum() -> None:
    register = Register(RegisterConfig(initial=99_990.0, resolution=0.1, rollover_at=100_000.0))
    assert not register.add(5.0)
    assert register.add(10.0)
    assert register.shown() == pytest.approx(5.0)
    assert register.true_total == pytest.approx(15.0)


def test_restart_returns_the_final_value_and_starts_again() -> None:
    register = Register(RegisterConfig(resolution=0.01))
    register.add(42.5)
    assert register.restart(7.0) == 42.5
    register.add(1.0)
    assert register.shown() == 8.0
    assert register.true_total == 43.5


@pytest.mark.parametrize("config", [
    {"initial": -1.0}, {"initial": 10.0, "rollover_at": 10.0}, {"resolution": 0.0},
])
def test_bad_register_configs_are_rejected(config: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"need|initial"):
        RegisterConfig(**config)


@given(amounts, st.floats(1_000, 10_000), st.lists(st.integers(0, 199), max_size=5))
def test_true_total_survives_rollovers_and_replacements(
    steps: list[float], rollover_at: float, replace_at: list[int]
) -> None:
    register = Register(RegisterConfig(resolution=0.001, rollover_at=rollover_at))
    unwrapped, previous = 0.0, register.shown()
    for index, amount in enumerate(steps):
        if index in replace_at:
            register.restart(0.0)
            previous = 0.0
        rolled = register.add(amount)
        shown = register.shown()
        # What a reader reconstructs from the shown values, knowing the maximum:
        unwrapped += shown - previous + (rollover_at if rolled else 0.0)
        previous = shown
    assert register.true_total == pytest.approx(sum(steps), abs=1e-6)
    assert unwrapped == pytest.approx(sum(steps), abs=0.001 * (len(replace_at) + 2))
