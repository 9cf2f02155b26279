"""Canonical serialisation and hashing: the same data always gives the same bytes. Pure.

JSON with sorted keys, no whitespace, UTF-8; Decimals as plain strings without exponent or
trailing zeros (`Decimal("1.50")` -> `"1.5"`), so that results survive a round trip through
the ledger unchanged. Floats are refused: a reported figure is never a binary fraction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from decimal import Decimal
from enum import Enum
from typing import Any


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: Decimals as canonical strings, tuples as lists."""
    kind = type(value)
    # Exact types first: closing a day serialises millions of readings (bench/carbon.py).
    if kind is Decimal:
        return decimal_text(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    return _plain_other(value)


def _plain_other(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, float):
        raise TypeError(f"refusing to serialise the float {value!r}: use Decimal")
    if isinstance(value, Enum):
        return plain(value.value)
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [plain(v) for v in value]
        return sorted(items, key=canonical) if isinstance(value, frozenset | set) else items
    return value


def decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} is not a reportable figure")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def canonical(value: Any) -> str:
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(value: Any) -> bytes:
    return canonical(value).encode("utf-8")


def digest(value: Any) -> str:
    """`sha256:` and the hex digest of the canonical bytes."""
    return "sha256:" + hashlib.sha256(canonical_bytes(value)).hexdigest()


def digest_plain(value: Any) -> str:
    """`digest` of data that is already plain (`plain(value) == value`), without the
    second pass over it: the inputs of a plant-day are ~10^6 values."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
