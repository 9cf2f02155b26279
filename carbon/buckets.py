"""A register's increase per time bucket by the engine's counter rules. Pure.

For views outside the engine that chart a counter (the gateway's bucketed series): the same
rules as `register_increase` (rollover only when physical, reading errors add nothing, a new
meter's start reading is never consumption), over the same readings, cut into buckets.

Each step between two accepted readings (a `counters.Segment`) counts in the bucket that
holds its later reading: the accepted reading just before a bucket's start is that bucket's
baseline. So consecutive buckets add up to `register_increase` over the same readings
exactly, and a step across a gap is not spread in time (it lands in the bucket where the
register is read again, flagged `gap_bridged`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from carbon.activity import register_limits
from carbon.counters import ZERO, Flag, Reading, Segment, segments
from carbon.lifecycle import LifeEvent
from contract.catalogue import EquipmentType


@dataclass(frozen=True, slots=True)
class BucketIncrease:
    """The register's increase in the bucket starting at `start` (epoch ms)."""

    start: int
    amount: Decimal
    flags: frozenset[Flag]


def bucket_increases(equipment: EquipmentType | None, metric: str,
                     readings: Sequence[Reading], every_ms: int,
                     max_gap_ms: int = 300_000,
                     births: Sequence[LifeEvent] = ()) -> list[BucketIncrease]:
    """The increase per `every_ms` bucket (aligned on the epoch, as InfluxQL's
    `GROUP BY time()`), one per bucket holding a reading, in time order; `births` bound
    rollovers as in `register_increase`."""
    if every_ms <= 0:
        raise ValueError("every_ms must be positive")
    ordered = sorted({r.ts: r for r in readings}.values(), key=lambda r: r.ts)
    limits = register_limits(equipment, metric, births)
    amounts = {_bucket(r.ts, every_ms): ZERO for r in ordered}
    flags: dict[int, set[Flag]] = {start: set() for start in amounts}
    for seg in segments(ordered, (), max_gap_ms, limits):
        start = _bucket(seg.end, every_ms)
        amounts[start] += seg.amount if seg.known else ZERO
        flags[start].update(_flags(seg))
    return [BucketIncrease(start, amounts[start], frozenset(flags[start]))
            for start in sorted(amounts)]


def _bucket(ts: int, every_ms: int) -> int:
    return ts - ts % every_ms


def _flags(seg: Segment) -> set[Flag]:
    found = {e.flag for e in seg.events}
    found.update([Flag.UNCOVERED] if not seg.known else [])
    found.update([Flag.GAP_BRIDGED] if seg.gap else [])
    return found
