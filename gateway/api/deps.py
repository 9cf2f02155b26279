"""What the routes share: dependencies as `Annotated` aliases (the gateway context, the caller
and its role) and the checks several routes make. Routes import this, never each other."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.context import Gateway
from gateway.core.errors import NotFound
from gateway.core.security import Role
from gateway.registry import DeviceRecord, TokenRecord
from gateway.tokens import authenticate

_bearer = HTTPBearer(auto_error=False, scheme_name="ApiToken",
                     description="An API token from `loopmeter gateway token create`, or a "
                                 "device's ingest token for HTTP ingest.")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def bearer_token(credentials: Bearer) -> str:
    if credentials is None or not credentials.credentials:
        raise HTTPException(401, "A bearer token is required.", headers=UNAUTHENTICATED)
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]


def current_principal(gateway: GatewayDep, token: BearerToken) -> TokenRecord:
    principal = authenticate(gateway.registry, token)
    if principal is None:
        raise HTTPException(401, "The token is unknown or revoked.", headers=UNAUTHENTICATED)
    return principal


CurrentPrincipal = Annotated[TokenRecord, Depends(current_principal)]


class RequireRole:
    """A dependency that lets through only principals holding one of `roles`."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def __call__(self, principal: CurrentPrincipal) -> TokenRecord:
        if principal.role not in self.roles:
            allowed = ", ".join(sorted(role.value for role in self.roles))
            raise HTTPException(403, f"Role {principal.role.value} may not do this "
                                     f"(allowed: {allowed}).")
        return principal


DeviceManager = Annotated[
    TokenRecord, Depends(RequireRole(Role.ADMIN, Role.OPERATOR, Role.EQUIPMENT_MAKER))]
MetricsViewer = Annotated[TokenRecord, Depends(
    RequireRole(Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.EQUIPMENT_MAKER))]
ReportViewer = Annotated[TokenRecord, Depends(
    RequireRole(Role.ADMIN, Role.OPERATOR, Role.AUDITOR))]
Regulator = Annotated[TokenRecord, Depends(RequireRole(Role.ADMIN, Role.AUDITOR))]
Monitor = Annotated[TokenRecord, Depends(RequireRole(Role.ADMIN, Role.OPERATOR))]


def owned_device(gateway: Gateway, principal: TokenRecord, device_id: str) -> DeviceRecord:
    """The device, if it exists and the principal may manage it."""
    record = gateway.registry.device(device_id)
    if record is None:
        raise NotFound(f"no device {device_id}")
    if principal.role is Role.EQUIPMENT_MAKER and record.owner != principal.id:
        raise HTTPException(403, "Equipment makers manage only the devices they registered.")
    return record
