"""API and device tokens: random, shown once, stored only as a SHA-256 digest.

A token carries 32 random bytes (256 bits), so nobody can guess it or search for it from its
digest; a slow password hash (bcrypt, argon2) protects low-entropy secrets and would buy
nothing here but latency on every request. Lookups go by digest, so comparing the stored
value leaks no timing about the token itself.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

TOKEN_BYTES = 32
API_TOKEN_PREFIX = "lm_"
DEVICE_TOKEN_PREFIX = "lmd_"
BROKER_PASSWORD_BYTES = 24


class Role(StrEnum):
    """What a principal may do; docs/gateway.md has the full matrix."""

    ADMIN = "admin"
    OPERATOR = "operator"
    EQUIPMENT_MAKER = "equipment_maker"
    AUDITOR = "auditor"


def new_token(prefix: str) -> str:
    """A fresh token; the prefix tells people (and secret scanners) what it is."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def new_password() -> str:
    return secrets.token_urlsafe(BROKER_PASSWORD_BYTES)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id(prefix: str) -> str:
    """A short public identifier (not a secret) for listing and revoking."""
    return f"{prefix}{secrets.token_hex(6)}"
