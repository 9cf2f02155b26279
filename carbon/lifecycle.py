"""What a device says of itself: its births and deaths, and its `state` metric. Pure.

The engine uses it where the registers are silent (issue 15, "gaps are honest"):

- a device that is not born yet (its first birth comes later, within the horizon the
  engine reads around a period) or dead (a death of its
  current session, and no birth since) consumed nothing measurable: its uncovered time gets
  no estimate and stays uncovered;
- a device whose last reported state before a gap (or, before its first report, its first
  one) is `off` drew nothing: the gap is substituted with zero (`state_off`);
- a birth's declared maximum of a rate gauge bounds what its registers can do, with the
  catalogue's (`carbon.activity.limits_of`).

Without births, deaths or states the device's state is unknown and nothing changes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any

from contract.points import MAX_PREFIX

# The catalogue's run and furnace states (contract.catalogue); only `off` means "draws
# nothing": `idle` and `blocked` still draw idle power, `fault` says nothing of it.
OFF_STATES = frozenset({"off"})


@dataclass(frozen=True, slots=True, order=True)
class LifeEvent:
    """A birth (`born`) or a death of one session; a birth's declared gauge maxima."""

    ts: int
    born: bool
    session: int
    maxima: tuple[tuple[str, Decimal], ...] = ()

    def maximum(self, gauge: str) -> Decimal | None:
        return next((value for name, value in self.maxima if name == gauge), None)


def life_event(record: Mapping[str, Any]) -> LifeEvent | None:
    """The birth or death in one `device_lifecycle` row's fields (`time` in epoch ms), with
    a birth's `max_<gauge>` fields as its declared maxima; None for any other row."""
    event, session = record.get("event"), record.get("session")
    if event not in ("birth", "death") or not isinstance(session, int | float):
        return None
    maxima = tuple(sorted(
        (name.removeprefix(MAX_PREFIX), Decimal(str(value))) for name, value in record.items()
        if name.startswith(MAX_PREFIX) and isinstance(value, int | float)
        and not isinstance(value, bool)))
    return LifeEvent(int(record["time"]), event == "birth", int(session), maxima)


@dataclass(frozen=True, slots=True, order=True)
class StateReading:
    ts: int
    value: str


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A device's lifecycle events and state readings, each in time order."""

    lifecycle: tuple[LifeEvent, ...] = ()
    states: tuple[StateReading, ...] = ()

    @property
    def births(self) -> tuple[LifeEvent, ...]:
        return tuple(e for e in self.lifecycle if e.born)

    def alive_at(self, ts: int) -> bool:
        """False when the device is known not to exist at `ts`: before its first birth (when
        one is known later), or after a death of its current session with no birth since.
        A death of an older session (a will the broker published after a reconnect) does
        not count."""
        before = [e for e in self.lifecycle if e.ts <= ts]
        if not before:
            return not (self.lifecycle and self.lifecycle[0].born)
        birth = next((e for e in reversed(before) if e.born), None)
        death = next((e for e in reversed(before) if not e.born), None)
        if death is None:
            return True
        if birth is None:
            return False
        return not (death.ts > birth.ts and death.session >= birth.session)

    def presence(self, lo: int, hi: int) -> Iterator[tuple[int, int, bool]]:
        """[lo, hi) cut where the device's life changes, each part with whether it was
        alive (or not known not to be)."""
        cuts = sorted({lo, hi, *(e.ts for e in self.lifecycle if lo < e.ts < hi)})
        parts = [(a, b, self.alive_at(a)) for a, b in pairwise(cuts)]
        merged: list[tuple[int, int, bool]] = []
        for a, b, alive in parts:
            if merged and merged[-1][2] == alive:
                merged[-1] = (merged[-1][0], b, alive)
            else:
                merged.append((a, b, alive))
        return iter(merged)

    def off(self, lo: int, hi: int) -> bool:
        """Whether the device was off in the gap [lo, hi): its last reported state at or
        before `lo`, or before its first report the first one at or after `hi`, is off."""
        at = bisect_right(self.states, lo, key=_time)
        if at:
            return self.states[at - 1].value in OFF_STATES
        after = [s for s in self.states if s.ts >= hi]
        return bool(after) and after[0].value in OFF_STATES


UNKNOWN = DeviceState()


def lifecycle_window(events: Sequence[LifeEvent], start: int,
                     end: int) -> tuple[LifeEvent, ...]:
    """The events that decide a device's life and declarations in [start, end): the last
    birth and the last death before `start`, and every event inside (what the reader
    fetches, and what a slice of a wider read keeps)."""
    before = [e for e in events if e.ts < start]
    last = [next((e for e in reversed(before) if e.born is kind), None) for kind in (True, False)]
    kept = [e for e in last if e is not None] + [e for e in events if start <= e.ts < end]
    return tuple(sorted(kept))


def _time(reading: StateReading) -> int:
    return reading.ts
