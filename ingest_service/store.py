"""Where a batch becomes durable: InfluxDB if it takes it in time, else the on-disk spool.

While the spool holds anything, new batches join its end, so InfluxDB receives batches in
the order they were made; `drain` replays the oldest first. When the spool is full, `store`
waits for InfluxDB instead: the messages stay unacknowledged and the broker keeps them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from adapters.backoff import Backoff
from adapters.clock import Clock
from ingest_service.policy import Rejection, Undelivered, WritePolicy
from ingest_service.stats import Stats
from ingest_service.storage import DeadLetter, DeadLetters, Spool

log = logging.getLogger(__name__)

INFLUX_REJECTED = "influx_rejected"


class DurableStore:
    def __init__(self, policy: WritePolicy, spool: Spool, dead_letters: DeadLetters,
                 clock: Clock, *, database: str, patience_s: float, backoff: Backoff,
                 stats: Stats) -> None:
        self._policy = policy
        self._spool = spool
        self._dead_letters = dead_letters
        self._clock = clock
        self._database = database
        self._patience_s = patience_s
        self._backoff = backoff
        self._stats = stats
        self._drain_failures = 0
        self._next_drain = 0.0
        self._sync_gauges()

    def store(self, lines: Sequence[str], sources: Sequence[str]) -> None:
        """Return once every line is in InfluxDB, the spool or the dead letters."""
        if not lines:
            return
        if self._spool.batches == 0:
            try:
                self._written(lines, self._policy.deliver(lines, self._patience_s,
                                                          self._database), sources)
                return
            except Undelivered as undelivered:
                self._reject(undelivered.rejected, lines, sources)
                self._stats.points_written += (len(lines) - len(undelivered.lines)
                                               - len(undelivered.rejected))
                lines = undelivered.lines
                log.warning("InfluxDB unavailable (%s): spooling %d points", undelivered,
                            len(lines))
        self._spool_lines(lines)

    def _spool_lines(self, lines: Sequence[str]) -> None:
        while not self._spool.has_room(lines):
            if not self.drain(force=True):
                self._clock.sleep(self._backoff.delay_after(self._drain_failures))
        self._spool.append(self._database, lines)
        self._stats.points_spooled += len(lines)
        self._sync_gauges()

    def drain(self, *, budget_s: float = 1.0, force: bool = False) -> bool:
        """Replay spooled batches, oldest first, for up to `budget_s`; False if one failed."""
        if self._spool.batches == 0:
            return True
        if not force and self._clock.monotonic() < self._next_drain:
            return False
        until = self._clock.monotonic() + budget_s
        while (entry := self._spool.oldest()) is not None:
            try:
                rejected = self._policy.deliver(entry.lines, 0.0, entry.database)
            except Undelivered:
                self._drain_failures += 1
                self._next_drain = (self._clock.monotonic()
                                    + self._backoff.delay_after(self._drain_failures))
                return False
            self._drain_failures = 0
            self._written(entry.lines, rejected, ())
            self._spool.remove(entry)
            self._sync_gauges()
            if self._clock.monotonic() >= until:
                break
        return True

    def _written(self, lines: Sequence[str], rejected: list[Rejection],
                 sources: Sequence[str]) -> None:
        self._reject(rejected, lines, sources)
        self._stats.points_written += len(lines) - len(rejected)

    def _reject(self, rejected: list[Rejection], lines: Sequence[str],
                sources: Sequence[str]) -> None:
        if not rejected:
            return
        topic_of = dict(zip(lines, sources, strict=False))
        now = self._clock.now_ms()
        self._dead_letters.add([
            DeadLetter(now, topic_of.get(r.line, ""), "point", INFLUX_REJECTED,
                       f"InfluxDB {r.status}: {r.message}", r.line.encode()) for r in rejected])
        self._stats.dead_letters[INFLUX_REJECTED] += len(rejected)
        log.warning("InfluxDB rejected %d points, dead-lettered: %s", len(rejected),
                    rejected[0].message)

    def _sync_gauges(self) -> None:
        self._stats.spool_batches = self._spool.batches
        self._stats.spool_points = self._spool.points
