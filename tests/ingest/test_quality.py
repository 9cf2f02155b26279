"""Sequence tracking: gaps, duplicates, reordering and lateness per device."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contract import DeviceId
from ingest_service.quality import QUALITY, Quality, SequenceTracker, quality_points

DEVICE = DeviceId("s1", "l1", "m1")
OTHER = DeviceId("s1", "l1", "m2")


def observe(tracker: SequenceTracker, seqs: list[int], device: DeviceId = DEVICE) -> None:
    for seq in seqs:
        tracker.observe(device, seq, [], received_ms=0)


def test_an_orderly_stream_has_nothing_to_report_but_messages() -> None:
    tracker = SequenceTracker(late_after_ms=1000)
    observe(tracker, list(range(5, 15)))
    assert tracker.take() == {DEVICE: Quality(messages=10)}


def test_gaps_duplicates_and_reordering() -> None:
    tracker = SequenceTracker(late_after_ms=1000)
    observe(tracker, [0, 1, 4, 4, 2, 7, 2])
    assert tracker.take() == {DEVICE: Quality(seq_gaps=4, duplicates=2, reordered=1, messages=7)}


def test_counts_are_per_interval_and_per_device() -> None:
    tracker = SequenceTracker(late_after_ms=1000)
    observe(tracker, [0, 2])
    observe(tracker, [10], OTHER)
    assert tracker.take() == {DEVICE: Quality(seq_gaps=1, messages=2), OTHER: Quality(messages=1)}
    observe(tracker, [1, 3])
    assert tracker.take() == {DEVICE: Quality(reordered=1, messages=2)}
    assert tracker.take() == {}


def test_seqs_older_than_the_window_count_as_reordered() -> None:
    tracker = SequenceTracker(late_after_ms=1000, window=8)
    observe(tracker, [0, 20, 0])
    assert tracker.take()[DEVICE].reordered == 1


def test_late_samples_are_counted() -> None:
    tracker = SequenceTracker(late_after_ms=60_000)
    tracker.observe(DEVICE, 0, [0, 39_999, 40_000, 99_000], received_ms=100_000)
    assert tracker.take()[DEVICE].late_samples == 2


@given(st.lists(st.integers(0, 300), min_size=1, max_size=200))
def test_missing_equals_gaps_minus_reordered(arrivals: list[int]) -> None:
    tracker = SequenceTracker(late_after_ms=1000, window=1024)
    observe(tracker, arrivals)
    counts = tracker.take()[DEVICE]
    distinct = len(set(arrivals))
    assert counts.messages == len(arrivals)
    assert counts.duplicates == len(arrivals) - distinct
    assert counts.seq_gaps - counts.reordered == max(arrivals) - arrivals[0] + 1 - distinct


def test_quality_points_carry_the_device_tags() -> None:
    [point] = quality_points({DEVICE: Quality(seq_gaps=2, messages=3)}, 5000)
    assert point.measurement == QUALITY
    assert dict(point.tags) == {"site": "s1", "line": "l1", "device": "m1"}
    assert point.fields == {"seq_gaps": 2, "duplicates": 0, "reordered": 0, "late_samples": 0,
                            "messages": 3}
    assert point.time_ms == 5000
