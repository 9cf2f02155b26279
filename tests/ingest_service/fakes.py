"""In-memory fakes of the ingest core's ports: line writer, acknowledgement sink (the fake
clock is tests.support's)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from adapters.influx import InfluxError
from contract import DeviceId
from ingest_service.pipeline import Delivery


class FakeDatabase:
    """A line writer that stores lines by series-and-time, like InfluxDB, unless `fail` says.

    `fail(lines)` returns the error to raise for a write, or None to store the lines.
    """

    def __init__(self, fail: Callable[[Sequence[str]], InfluxError | None] | None = None) -> None:
        self.points: dict[str, str] = {}
        self.calls: list[list[str]] = []
        self.fail = fail or (lambda _lines: None)

    def write_lines(self, lines: Sequence[str], database: str | None = None) -> None:
        self.calls.append(list(lines))
        error = self.fail(lines)
        if error is not None:
            raise error
        for line in lines:
            head, _, time = line.rpartition(" ")
            self.points[f"{head.split(' ')[0]} {time}"] = line


class FakeAcks:
    def __init__(self) -> None:
        self.acked: list[Delivery] = []

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self.acked.extend(deliveries)


class FakeConfirms:
    """Records each confirmation: the seqs confirmed per device, and when (database state)."""

    def __init__(self, snapshot: Callable[[], object] = lambda: None) -> None:
        self.confirmed: list[dict[DeviceId, list[int]]] = []
        self.seen: list[object] = []
        self._snapshot = snapshot

    def confirm(self, durable: Mapping[DeviceId, Sequence[int]]) -> None:
        self.confirmed.append({device: list(seqs) for device, seqs in durable.items()})
        self.seen.append(self._snapshot())

    def seqs(self, device: DeviceId) -> list[int]:
        return sorted(seq for each in self.confirmed for seq in each.get(device, []))
