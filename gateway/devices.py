"""Device provisioning: registry rows and broker logins kept in step.

The broker is changed first and the registry second, so a failure leaves at worst a broker
login without a registry row, which the next registration of that device replaces (the
dynsec commands delete before they create). A revoked id is never registered again.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace

from adapters.clock import Clock
from contract import DeviceId, EquipmentType
from gateway.broker import BrokerAdmin
from gateway.core.errors import Conflict
from gateway.core.security import DEVICE_TOKEN_PREFIX, digest, new_password, new_token
from gateway.registry import DeviceRecord, Registry, device_key, taken


@dataclass(frozen=True, slots=True)
class Credentials:
    """Secrets of one device, shown once: its broker login and its HTTP ingest token."""

    username: str
    password: str = field(repr=False)
    ingest_token: str = field(repr=False)


class DeviceService:
    def __init__(self, registry: Registry, broker: BrokerAdmin, clock: Clock) -> None:
        self._registry = registry
        self._broker = broker
        self._clock = clock

    def register(self, device: DeviceId, device_type: EquipmentType, metadata: dict[str, str],
                 owner: str) -> tuple[DeviceRecord, Credentials]:
        existing = self._registry.device(device_key(device))
        if existing is not None:  # active, or revoked: a tombstone, whoever asks
            raise taken(existing.id, existing.revoked_ms)
        credentials = _new_credentials(device.client_id)
        now = self._clock.now_ms()
        record = DeviceRecord(device=device, device_type=device_type, owner=owner,
                              mqtt_username=credentials.username,
                              ingest_digest=digest(credentials.ingest_token),
                              created_ms=now, credentials_ms=now, metadata=metadata)
        self._broker.create_device(credentials.username, credentials.password, device.prefix,
                                   client_id=device.client_id)
        self._registry.add_device(record)
        return record, credentials

    def revoke(self, record: DeviceRecord) -> DeviceRecord:
        """Delete the broker login (kicking the device) and mark the device revoked."""
        self._broker.delete_device(record.mqtt_username)
        revoked = replace(record, revoked_ms=record.revoked_ms or self._clock.now_ms())
        self._registry.save_device(revoked)
        return revoked

    def rotate(self, record: DeviceRecord) -> tuple[DeviceRecord, Credentials]:
        """New broker password and ingest token; the old ones stop working at once."""
        if not record.active:
            raise Conflict(f"device {record.id} is revoked; register a new device id")
        credentials = _new_credentials(record.mqtt_username)
        self._broker.set_password(record.mqtt_username, credentials.password)
        rotated = replace(record, ingest_digest=digest(credentials.ingest_token),
                          credentials_ms=self._clock.now_ms())
        self._registry.save_device(rotated)
        return rotated, credentials

    def authenticate(self, device_id: str, token: str) -> DeviceRecord | None:
        """The active device whose ingest token this is, or None."""
        record = self._registry.device(device_id)
        if record is None or not record.active:
            return None
        return record if hmac.compare_digest(record.ingest_digest, digest(token)) else None


def _new_credentials(username: str) -> Credentials:
    return Credentials(username, new_password(), new_token(DEVICE_TOKEN_PREFIX))
