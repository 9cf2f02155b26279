"""Devices: register (with broker credentials), list with liveness, rotate, revoke."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Path, Response, status

from contract import DeviceId
from gateway.api.deps import DeviceManager, GatewayDep, owned_device
from gateway.api.models import (
    DEVICE_ID,
    ConnectionBundle,
    DeviceCreate,
    DevicePublic,
    LivenessPublic,
)
from gateway.api.problems import problem_responses
from gateway.context import Gateway
from gateway.core.security import Role
from gateway.devices import Credentials
from gateway.registry import DeviceRecord

router = APIRouter(prefix="/v1/devices", tags=["devices"],
                   responses=problem_responses(401, 403, 422))
DevicePath = Annotated[str, Path(pattern=DEVICE_ID, description="`site.line.device`")]
# The bundle carries secrets: no cache may keep it.
_NO_STORE = {"Cache-Control": "no-store"}


def public(gateway: Gateway, record: DeviceRecord) -> DevicePublic:
    state = gateway.adapters.liveness.get(record.device.prefix)
    liveness = LivenessPublic.of(state, gateway.clock.now_ms(),
                                 int(gateway.settings.offline_after_s * 1000))
    return DevicePublic.of(record, liveness)


def bundle(gateway: Gateway, record: DeviceRecord, credentials: Credentials) -> ConnectionBundle:
    settings = gateway.settings
    ingest_url = f"{settings.public_url.rstrip('/')}/v1/devices/{record.id}/data"
    # The identity and broker parts of `loopmeter agent run --config`; the maker adds the
    # driver and the metrics of the machine (docs/agent-sdk.md).
    agent = {"agent": {"site": record.device.site, "line": record.device.line,
                       "device": record.device.device,
                       "device_type": record.device_type.value},
             "mqtt": {"url": settings.broker_url_for_devices, "username": credentials.username,
                      "password": credentials.password}}
    return ConnectionBundle(
        device=public(gateway, record), broker_url=settings.broker_url_for_devices,
        username=credentials.username, password=credentials.password,
        client_id=credentials.username, topic_prefix=record.device.prefix,
        ingest_url=ingest_url, ingest_token=credentials.ingest_token,
        agent_config=yaml.safe_dump(agent, sort_keys=False))


@router.post("", status_code=status.HTTP_201_CREATED,
             responses=problem_responses(409, 503))
def register_device(body: DeviceCreate, gateway: GatewayDep, principal: DeviceManager,
                    response: Response) -> ConnectionBundle:
    """Register a device: creates its broker login, allowed to publish only under its prefix.

    The response holds the device's secrets; they are not stored and cannot be shown again.
    """
    device = DeviceId(body.site, body.line, body.device)
    record, credentials = gateway.devices.register(device, body.device_type, body.metadata,
                                                   principal.id)
    response.headers.update(_NO_STORE)
    return bundle(gateway, record, credentials)


@router.get("")
def list_devices(gateway: GatewayDep, principal: DeviceManager,
                 include_revoked: bool = False) -> list[DevicePublic]:
    """Devices with their liveness; equipment makers see only the ones they registered."""
    owner = principal.id if principal.role is Role.EQUIPMENT_MAKER else None
    return [public(gateway, record) for record in gateway.registry.devices(owner)
            if include_revoked or record.active]


@router.get("/{device_id}", responses=problem_responses(404))
def get_device(device_id: DevicePath, gateway: GatewayDep,
               principal: DeviceManager) -> DevicePublic:
    return public(gateway, owned_device(gateway, principal, device_id))


@router.post("/{device_id}/rotate", responses=problem_responses(404, 409, 503))
def rotate_credentials(device_id: DevicePath, gateway: GatewayDep, principal: DeviceManager,
                       response: Response) -> ConnectionBundle:
    """New broker password and ingest token; the old ones stop working immediately."""
    record, credentials = gateway.devices.rotate(owned_device(gateway, principal, device_id))
    response.headers.update(_NO_STORE)
    return bundle(gateway, record, credentials)


@router.delete("/{device_id}", responses=problem_responses(404, 503))
def revoke_device(device_id: DevicePath, gateway: GatewayDep,
                  principal: DeviceManager) -> DevicePublic:
    """Delete the device's broker login (disconnecting it) and its ingest token."""
    return public(gateway, gateway.devices.revoke(owned_device(gateway, principal, device_id)))
