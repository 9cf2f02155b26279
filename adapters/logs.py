"""Structured logs: one JSON object per line on stderr, for the long-running commands.

A record's `fields` (`log.info("connected", extra=fields(session=3))`) become keys of its
line, so a supervisor or `jq` can read events without parsing sentences.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FIELDS = "fields"


def fields(**values: object) -> dict[str, Mapping[str, object]]:
    """The `extra` of a log call whose values become keys of its JSON line."""
    return {FIELDS: values}


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, `static` and its fields."""

    def __init__(self, static: Mapping[str, object] | None = None) -> None:
        super().__init__()
        self._static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname, "logger": record.name, **self._static,
            "message": record.getMessage(), **getattr(record, FIELDS, {})}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_json_lines(level: str | int, static: Mapping[str, object] | None = None) -> None:
    """Send every log record to stderr as JSON lines, from `level` up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(static))
    logging.basicConfig(level=level.upper() if isinstance(level, str) else level,
                        handlers=[handler])
