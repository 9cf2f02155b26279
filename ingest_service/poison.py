"""Recognising a message that kills the worker, when the broker delivers it again.

Everything between receiving a message and acknowledging it runs inside the pipeline's error
boundary, so a message that raises is dead-lettered. What the boundary cannot catch (the
process killed for its memory, a crash in native code, a bug that exits) leaves the message
unacknowledged: the broker redelivers it after the restart, and it would kill the worker
again, forever. So the digest of the message being decoded is kept in a small memory-mapped
file, set before and cleared after: a store into a shared mapping is as cheap as a store into
memory, and it survives the death of the process (the page cache holds it). After a restart,
a redelivered message whose digest is that file's is dead-lettered with reason `poison`
instead of being decoded again.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from pathlib import Path
from typing import Protocol

POISON = "poison"  # dead-letter reason
_SIZE = 16
_CLEAR = bytes(_SIZE)


class InFlight(Protocol):
    def begin(self, topic: str, payload: bytes, redelivered: bool) -> bool:
        """Mark the message as being processed; True if it is a redelivery of the message
        that was being processed when the worker died (then it is not marked again)."""
        ...

    def end(self) -> None:
        """The message marked last was processed without killing the worker."""
        ...


class NoInFlight:
    """For pipelines without durable state (tests, benchmarks): nothing is ever poison."""

    def begin(self, topic: str, payload: bytes, redelivered: bool) -> bool:
        return False

    def end(self) -> None:
        pass


def _digest(topic: str, payload: bytes) -> bytes:
    # MQTT topics never contain NUL, so the separator makes the digest unambiguous.
    return hashlib.blake2b(topic.encode("utf-8", "surrogatepass") + b"\0" + payload,
                           digest_size=_SIZE).digest()


class InFlightMarker:
    """The digest of the message in flight, in `path` (one file per worker)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)
        left = bytes(self._map[:_SIZE])
        self._suspect = left if left != _CLEAR else None

    @property
    def suspect(self) -> bytes | None:
        """The digest of the message in flight when the last process died, if one was."""
        return self._suspect

    def begin(self, topic: str, payload: bytes, redelivered: bool) -> bool:
        digest = _digest(topic, payload)
        if redelivered and digest == self._suspect:
            return True  # the mark stays: if this worker dies too, the next one knows
        self._map[:_SIZE] = digest
        return False

    def end(self) -> None:
        self._map[:_SIZE] = _CLEAR

    def close(self) -> None:
        self._map.close()


def marker_path(state_dir: Path, worker: int) -> Path:
    return state_dir / f"ingest-{worker}.in-flight"
