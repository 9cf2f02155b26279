"""The liveness tracker, fed messages directly; time is whatever the test says."""

from __future__ import annotations

import json

from contract import DataMessage, Sample, encode
from gateway.liveness import LivenessTracker

T = 1_790_000_000_000
PREFIX = "loopmeter/v1/zz/l1/d1"


def _birth(session: int, ts: int = T) -> bytes:
    return json.dumps({"v": 1, "ts": ts, "session": session, "device_type": "belt_scale",
                       "next_seq": 0, "agent": {"name": "a", "version": "1"},
                       "metrics": [{"name": "rate_tph", "unit": "t/h", "kind": "gauge",
                                    "period_s": 10}]}).encode()


def _death(session: int) -> bytes:
    return json.dumps({"v": 1, "ts": T, "session": session}).encode()


def _data(seq: int, historical: bool = False) -> bytes:
    return encode(DataMessage(device_type="belt_scale", seq=seq,
                              historical=historical,
                              samples=[Sample(ts=T + seq, values={"rate_tph": 1.0})]))


def test_birth_death_and_stale_wills() -> None:
    tracker = LivenessTracker()
    tracker.observe(f"{PREFIX}/birth", _birth(2), T)
    assert tracker.get(PREFIX).online(T + 1000, 60_000)
    tracker.observe(f"{PREFIX}/death", _death(1), T + 10)  # the will of an older session
    assert tracker.get(PREFIX).connected
    tracker.observe(f"{PREFIX}/death", _death(2), T + 20)
    state = tracker.get(PREFIX)
    assert not state.online(T + 20, 60_000) and state.last_seen_ms == T + 20


def test_retained_birth_is_dated_by_its_own_timestamp() -> None:
    tracker = LivenessTracker()
    tracker.observe(f"{PREFIX}/birth", _birth(1, ts=T - 3_600_000), T, retained=True)
    state = tracker.get(PREFIX)
    assert state.last_seen_ms == T - 3_600_000 and not state.online(T, 60_000)


def test_gaps_count_skipped_live_messages_only() -> None:
    tracker = LivenessTracker()
    for seq, historical in [(5, False), (6, False), (9, False), (7, True), (8, True),
                            (8, False), (10, False)]:
        tracker.observe(f"{PREFIX}/data", _data(seq, historical), T + 100)
    state = tracker.get(PREFIX)
    assert (state.last_seq, state.seq_gaps) == (10, 2)


def test_invalid_messages_and_device_overflow_are_counted_not_kept() -> None:
    tracker = LivenessTracker(max_devices=1)
    tracker.observe(f"{PREFIX}/data", b"nonsense", T)
    tracker.observe("not/a/topic", _data(1), T)
    tracker.observe(f"{PREFIX}/data", _data(1), T)
    tracker.observe("loopmeter/v1/zz/l1/d2/data", _data(1), T)
    assert tracker.rejected == 3
    assert tracker.get("loopmeter/v1/zz/l1/d2").last_seen_ms is None
