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


def test_a_huge_jump_in_seq_costs_no_memory() -> None:
    tracker = SequenceTracker(late_after_ms=1000, window=1024)
    observe(tracker, [0, 2**50, 2**50 + 1, 2**62, 3])
    counts = tracker.take()[DEVICE]
    assert counts.seq_gaps == 2**62 - 3  # all but the 4 seqs that arrived below 2**62
    assert counts.reordered == 1
    state = tracker._devices[DEVICE]
    assert state.seen.bit_length() <= 1024


@given(st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=50))
def test_any_seqs_keep_the_window_bounded(arrivals: list[int]) -> None:
    tracker = SequenceTracker(late_after_ms=1000, window=64)
    observe(tracker, arrivals)
    assert tracker._devices[DEVICE].seen.bit_length() <= 64
    (point,) = quality_points(tracker.take(), 0)
    assert all(0 <= value < 2**63 for value in point.fields.values())


def test_the_devices_remembered_are_bounded() -> None:
    tracker = SequenceTracker(late_after_ms=1000, max_devices=2)
    devices = [DeviceId("s1", "l1", f"m{i}") for i in range(3)]
    for device in devices:
        tracker.observe(device, 0, [], received_ms=0)
    assert list(tracker.take()) == devices[:2]  # an interval counts max_devices at most
    tracker.observe(devices[2], 0, [], received_ms=0)
    assert list(tracker._devices) == devices[1:]  # the least recently heard is forgotten
    tracker.observe(devices[0], 5, [], received_ms=0)  # forgotten: no gap to count
    assert tracker.take()[devices[0]] == Quality(messages=1)
