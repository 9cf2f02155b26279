"""Decode errors: one reason per message (for dead-letter counting) and precise field paths."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why a message was rejected; each value is a dead-letter counter label."""

    INVALID_JSON = "invalid_json"
    UNKNOWN_VERSION = "unknown_version"
    SCHEMA = "schema"
    UNKNOWN_DEVICE_TYPE = "unknown_device_type"
    UNKNOWN_METRIC = "unknown_metric"
    OUT_OF_RANGE = "out_of_range"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_TOPIC = "bad_topic"
    TOO_LARGE = "too_large"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem at one place in the payload; `path` is like `samples[3].values.power_kw`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ContractError(ValueError):
    """A message does not conform to the contract."""

    def __init__(self, reason: Reason, errors: list[FieldError]) -> None:
        self.reason = reason
        self.errors = errors
        super().__init__(f"{reason.value}: " + "; ".join(str(e) for e in errors))
