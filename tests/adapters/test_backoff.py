from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from adapters.backoff import Backoff, BackoffSettings


def test_delays_grow_to_the_cap_and_reset() -> None:
    backoff = Backoff(BackoffSettings(initial_s=1, max_s=8, factor=2, jitter=0),
                      random.Random(1))
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_same_seed_same_delays() -> None:
    settings = BackoffSettings()
    first, second = (Backoff(settings, random.Random(42)) for _ in range(2))
    assert [first.next_delay() for _ in range(10)] == [second.next_delay() for _ in range(10)]


@given(initial=st.floats(0.01, 10), cap=st.floats(0.01, 600), factor=st.floats(1, 4),
       jitter=st.floats(0, 1), seed=st.integers(0, 2**32), failures=st.integers(0, 100))
def test_each_delay_lies_within_its_jitter_band(
        initial: float, cap: float, factor: float, jitter: float, seed: int,
        failures: int) -> None:
    settings = BackoffSettings(initial_s=initial, max_s=cap, factor=factor, jitter=jitter)
    backoff = Backoff(settings, random.Random(seed))
    backoff.failures = failures
    base = min(cap, initial * factor ** failures)
    assert base * (1 - jitter) - 1e-9 <= backoff.next_delay() <= base + 1e-9
