"""Per-caller rate limiting: a token bucket per key, in bounded memory. Pure: the caller
passes the time."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate` requests per second sustained, `burst` at once; at most `max_keys` callers are
    remembered (the least recently seen is forgotten, and starts again with a full bucket)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now_s: float) -> float:
        """Spend one request of `key`'s budget: 0.0 if allowed, else seconds to wait."""
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self._burst, now_s)
            if len(self._buckets) >= self._max_keys:
                self._buckets.popitem(last=False)
        bucket.tokens = min(self._burst, bucket.tokens + (now_s - bucket.at) * self._rate)
        bucket.at = now_s
        self._buckets[key] = bucket
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate
