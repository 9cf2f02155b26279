"""Per-device completeness of the data stream: sequence gaps, duplicates, reordering, lateness.

A device numbers its data messages 0, 1, 2, ... (`seq`). The tracker remembers, per device,
the highest seq seen and which of the `window` seqs below it arrived, as the bits of an int:

    seq_gaps     seqs skipped when a higher one arrived (a later arrival undoes nothing:
                 the number still missing is seq_gaps - reordered)
    duplicates   a seq that already arrived (a redelivery or a resend)
    reordered    a seq below the highest that had not arrived yet, or too old to tell
    late_samples samples older than `late_after_ms` when their message arrived
    messages     data messages seen

Counts are per interval: `take()` returns them and starts from zero, so a sum over time is
the total. Memory is bounded whatever the seq values: a jump of a window or more starts the
bits afresh instead of shifting them (seq 0 then 2**50 costs one int, not 2**50 bits), and
at most `max_devices` devices are remembered (the least recently heard is forgotten, and
its next message counts as its first). Each worker tracks what it receives: with several
workers on one shared subscription, a device's messages are split among them and each
worker sees gaps that another worker filled (see docs/ingest.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from contract import DeviceId, Point
from contract.points import INGEST_QUALITY, device_tags

QUALITY = INGEST_QUALITY


@dataclass(slots=True)
class Quality:
    seq_gaps: int = 0
    duplicates: int = 0
    reordered: int = 0
    late_samples: int = 0
    messages: int = 0



@dataclass(slots=True)
class _Device:
    highest: int
    seen: int  # bit i set: seq `highest - i` arrived


class SequenceTracker:
    """Completeness counters per device, bounded by `window` bits of memory per device and
    `max_devices` devices."""

    def __init__(self, late_after_ms: int, window: int = 1024,
                 max_devices: int = 100_000) -> None:
        self._late_after_ms = late_after_ms
        self._window = window
        self._mask = (1 << window) - 1
        self._max_devices = max_devices
        self._devices: dict[DeviceId, _Device] = {}  # least recently heard first
        self._counts: dict[DeviceId, Quality] = {}

    def observe(self, device: DeviceId, seq: int, sample_ts: Sequence[int],
                received_ms: int) -> None:
        counts = self._counts.get(device)
        if counts is None:
            if len(self._counts) >= self._max_devices:
                return  # this interval's counts are full; bounded before they are complete
            counts = self._counts[device] = Quality()
        counts.messages += 1
        counts.late_samples += sum(ts < received_ms - self._late_after_ms for ts in sample_ts)
        state = self._devices.pop(device, None)
        if state is None:
            state = _Device(seq, 1)
            if len(self._devices) >= self._max_devices:
                del self._devices[next(iter(self._devices))]
        elif seq > state.highest:
            counts.seq_gaps += seq - state.highest - 1
            jump = seq - state.highest
            state.seen = ((state.seen << jump) | 1) & self._mask if jump < self._window else 1
            state.highest = seq
        else:
            self._earlier(state, state.highest - seq, counts)
        self._devices[device] = state

    def _earlier(self, state: _Device, offset: int, counts: Quality) -> None:
        if offset >= self._window:
            counts.reordered += 1
        elif state.seen >> offset & 1:
            counts.duplicates += 1
        else:
            counts.reordered += 1
            state.seen |= 1 << offset

    def take(self) -> dict[DeviceId, Quality]:
        """The counts since the last call, per device that sent anything."""
        counts, self._counts = self._counts, {}
        return counts


_INT64_MAX = 2**63 - 1  # InfluxDB's integer fields are 64-bit


def quality_points(counts: dict[DeviceId, Quality], time_ms: int) -> list[Point]:
    # Gaps from seqs far apart can sum beyond a 64-bit integer: such a count is capped.
    return [Point(QUALITY, device_tags(d), {k: min(v, _INT64_MAX) for k, v in asdict(q).items()},
                  time_ms) for d, q in counts.items()]
