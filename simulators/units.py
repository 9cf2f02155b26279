"""Durations and timestamps as they are written in scenarios and on the command line."""

from __future__ import annotations

import re
from datetime import datetime

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float) -> float:
    """Seconds in `text`, such as "1d", "2h30m", "90s", "250ms" or a bare number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    cleaned = text.strip().replace(" ", "")
    try:
        return float(cleaned)
    except ValueError:
        pass
    parts = _PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"{text!r} is not a duration such as 1d, 2h30m, 90s or 250ms")
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def parse_timestamp_ms(text: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 timestamp with a UTC offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; write e.g. 2026-03-02T00:00:00+08:00")
    return int(moment.timestamp() * 1000)
