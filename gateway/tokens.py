"""API tokens: issue, list, revoke. Used by the CLI; the HTTP API only checks them."""

from __future__ import annotations

from adapters.clock import Clock
from gateway.core.security import API_TOKEN_PREFIX, Role, digest, new_id, new_token
from gateway.registry import Registry, TokenRecord


def create_token(registry: Registry, role: Role, name: str,
                 clock: Clock) -> tuple[TokenRecord, str]:
    """A new token for `role`; the token itself is returned once and never stored."""
    token = new_token(API_TOKEN_PREFIX)
    record = TokenRecord(new_id("tok_"), name, role, clock.now_ms())
    registry.add_token(record, digest(token))
    return record, token


def authenticate(registry: Registry, token: str) -> TokenRecord | None:
    """The active principal of an API token, or None."""
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    return registry.principal(digest(token))
