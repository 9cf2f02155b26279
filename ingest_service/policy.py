"""What to do when InfluxDB refuses a write: the classified errors turned into actions.

    400/422 WriteRejected  halve the batch until the offending lines are alone; dead-letter them
    413 BatchTooLarge      halve the batch; a single line too large is dead-lettered
    429/503 Throttled      wait Retry-After (capped), or the backoff if the server gave none
    other Unavailable      wait the capped, doubling backoff

Waiting stops once `patience_s` is used up: the lines not yet written are handed back in
`Undelivered`, for the spool. Rewriting lines that were already stored is harmless: a point is
identified by its series and timestamp, so InfluxDB keeps one copy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from adapters.backoff import Backoff, BackoffSettings
from adapters.clock import Clock
from adapters.errors import Unreachable
from adapters.influx import BatchTooLarge, InfluxError, Throttled, Unavailable, WriteRejected
from ingest_service.settings import RetrySettings


class LineWriter(Protocol):
    def write_lines(self, lines: Sequence[str], database: str | None = None) -> None: ...


MIN_PART_LINES = 500  # smaller batches go whole: splitting them saves InfluxDB next to nothing

# When parts of one write fail differently, the error that makes the policy retry the whole
# write comes first: retrying rewrites the parts already stored, which is harmless.
_PRECEDENCE = (Unavailable, Throttled, BatchTooLarge, WriteRejected)


class ConcurrentWriter:
    """Writes a batch as up to `parts` requests at once, so that InfluxDB parses them on
    several cores; fails as a whole, with the most retryable error, if any part fails."""

    def __init__(self, writer: LineWriter, parts: int) -> None:
        self._writer = writer
        self._parts = parts
        self._pool = (ThreadPoolExecutor(parts - 1, thread_name_prefix="influx-write")
                      if parts > 1 else None)

    def write_lines(self, lines: Sequence[str], database: str | None = None) -> None:
        size = max(MIN_PART_LINES, -(-len(lines) // self._parts))
        if self._pool is None or len(lines) <= size:
            self._writer.write_lines(lines, database)
            return
        first, *others = [lines[i:i + size] for i in range(0, len(lines), size)]
        futures = [self._pool.submit(self._attempt, part, database) for part in others]
        errors = [error for error in [self._attempt(first, database),
                                      *(future.result() for future in futures)] if error]
        if errors:
            raise min(errors, key=_precedence)

    def _attempt(self, lines: Sequence[str], database: str | None) -> InfluxError | None:
        try:
            self._writer.write_lines(lines, database)
        except InfluxError as error:
            return error
        return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _precedence(error: InfluxError) -> int:
    return next((i for i, kind in enumerate(_PRECEDENCE) if isinstance(error, kind)),
                len(_PRECEDENCE))


@dataclass(frozen=True, slots=True)
class Rejection:
    """One line that InfluxDB will never take, and the server's reason."""

    line: str
    status: int
    message: str


class Undelivered(Unreachable):
    """InfluxDB stayed unavailable; `lines` were not written (and `rejected` were refused)."""

    def __init__(self, lines: list[str], rejected: list[Rejection], cause: str) -> None:
        self.lines = lines
        self.rejected = rejected
        super().__init__(cause)


class WritePolicy:
    """Writes a batch of lines through a writer, splitting, backing off and rejecting."""

    def __init__(self, writer: LineWriter, clock: Clock, backoff: Backoff,
                 max_throttle_s: float) -> None:
        self._writer = writer
        self._clock = clock
        self._backoff = backoff
        self._max_throttle_s = max_throttle_s

    def deliver(self, lines: Sequence[str], patience_s: float,
                database: str | None = None) -> list[Rejection]:
        """Write every line or reject it; raise Undelivered when patience runs out."""
        pending: deque[list[str]] = deque([list(lines)] if lines else [])
        rejected: list[Rejection] = []
        deadline = self._clock.monotonic() + patience_s
        failures = 0
        while pending:
            chunk = pending.popleft()
            try:
                self._writer.write_lines(chunk, database)
                failures = 0
            except (WriteRejected, BatchTooLarge) as error:
                status, message = _refusal(error)
                if len(chunk) == 1:
                    rejected.append(Rejection(chunk[0], status, message))
                else:
                    half = len(chunk) // 2
                    pending.extendleft([chunk[half:], chunk[:half]])
            except (Throttled, Unavailable) as error:
                pending.appendleft(chunk)
                wait = self._wait(error, failures)
                failures += 1
                if self._clock.monotonic() + wait > deadline:
                    raise Undelivered([line for c in pending for line in c], rejected,
                                      str(error)) from error
                self._clock.sleep(wait)
        return rejected

    def _wait(self, error: Throttled | Unavailable, failures: int) -> float:
        if isinstance(error, Throttled) and error.retry_after_s is not None:
            return min(max(0.0, error.retry_after_s), self._max_throttle_s)
        return self._backoff.delay_after(failures)


def retry_backoff(retry: RetrySettings) -> Backoff:
    """Jittered: a pool of workers retrying one InfluxDB must not retry in step."""
    return Backoff(BackoffSettings(initial_s=retry.initial_backoff_s, max_s=retry.max_backoff_s))


def write_policy(writer: LineWriter, clock: Clock, retry: RetrySettings) -> WritePolicy:
    """The policy the settings describe; the service and `dlq replay` both write with it."""
    return WritePolicy(writer, clock, retry_backoff(retry), retry.max_throttle_s)


def _refusal(error: WriteRejected | BatchTooLarge) -> tuple[int, str]:
    if isinstance(error, WriteRejected):
        return error.status, error.message
    return 413, str(error) or "request entity too large"
