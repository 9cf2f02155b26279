"""What the pipeline counts; `/metrics` and the `ingest_health` points are views of it."""

from __future__ import annotations

import bisect
from collections import Counter, deque
from dataclasses import dataclass, field

RECENT = 10_000  # end-to-end delays kept for exact percentiles (benchmarks, debugging)
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(slots=True)
class Histogram:
    """Cumulative-bucket histogram in Prometheus' shape."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS_S
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        running, buckets = 0, []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            buckets.append((bound, running))
        return buckets


@dataclass(slots=True)
class Stats:
    """Counters since the worker started (cumulative) and gauges of its state now."""

    messages_in: int = 0
    own_acks: int = 0  # acknowledgements ingest published and received back: not stored
    points_written: int = 0
    points_spooled: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    batch_latency: Histogram = field(default_factory=Histogram)
    end_to_end: Histogram = field(default_factory=Histogram)
    recent_delays: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    spool_batches: int = 0
    spool_points: int = 0
    unacked: int = 0
    oldest_unacked_s: float = 0.0
    connected: bool = False
    subscribed: bool = False  # the broker granted the subscription on this connection
    subscribe_refusals: int = 0  # SUBACKs that refused it (each retried with backoff)
    sessions_lost: int = 0  # reconnects on which the broker no longer had the session
    confirms_published: int = 0  # end-to-end confirmations sent to devices
    confirms_accepted: int = 0  # ... that the broker acknowledged
    confirms_refused: int = 0  # ... that the broker refused (ACL): the devices send again
    confirms_dropped: int = 0  # ... dropped from a full queue: the devices send again

    def delayed(self, seconds: float) -> None:
        """One live message stored `seconds` after its newest sample was taken."""
        self.end_to_end.observe(seconds)
        self.recent_delays.append(seconds)
