"""The registry of API tokens and devices, in SQLite (one file, no server).

Only digests of tokens are stored. Revoked rows stay, so that the registry says who had
access and when. A revoked device's row is its tombstone: device ids are never reused, so
nobody (its owner included) can register the id again and rewrite its history.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from contract import DeviceId, EquipmentType
from gateway.core.errors import Conflict
from gateway.core.security import Role

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    line TEXT NOT NULL,
    device TEXT NOT NULL,
    device_type TEXT NOT NULL,
    metadata TEXT NOT NULL,
    owner TEXT NOT NULL,
    mqtt_username TEXT NOT NULL,
    ingest_digest TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    credentials_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
"""
_UPSERT_DEVICE = "INSERT OR REPLACE INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    name: str
    role: Role
    created_ms: int
    revoked_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A registered device; `owner` is the id of the API token that registered it."""

    device: DeviceId
    device_type: EquipmentType
    owner: str
    mqtt_username: str
    ingest_digest: str = field(repr=False)
    created_ms: int
    credentials_ms: int
    metadata: dict[str, str] = field(default_factory=dict)
    revoked_ms: int | None = None

    @property
    def id(self) -> str:
        return device_key(self.device)

    @property
    def active(self) -> bool:
        return self.revoked_ms is None


def device_key(device: DeviceId) -> str:
    """The registry id of a device: identifiers cannot contain dots, so this is unambiguous."""
    return f"{device.site}.{device.line}.{device.device}"


class Registry:
    """Thread-safe: FastAPI runs sync endpoints in a thread pool, so one lock guards the file."""

    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
            # Token digests and device logins: readable by the gateway's user only. SQLite
            # gives its journal files the database file's mode.
            path.touch(mode=0o600, exist_ok=True)
            path.chmod(0o600)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._locked() as db:
            db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def ping(self) -> bool:
        with self._locked() as db:
            return db.execute("SELECT 1").fetchone() is not None

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    # ---------------------------------------------------------------- tokens

    def add_token(self, record: TokenRecord, token_digest: str) -> None:
        with self._locked() as db:
            db.execute("INSERT INTO tokens (id, name, role, digest, created_ms) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (record.id, record.name, record.role.value, token_digest,
                        record.created_ms))

    def principal(self, token_digest: str) -> TokenRecord | None:
        """The active token with this digest, if any."""
        with self._locked() as db:
            row = db.execute("SELECT * FROM tokens WHERE digest = ? AND revoked_ms IS NULL",
                             (token_digest,)).fetchone()
        return _token(row) if row else None

    def tokens(self) -> list[TokenRecord]:
        with self._locked() as db:
            rows = db.execute("SELECT * FROM tokens ORDER BY created_ms, id").fetchall()
        return [_token(row) for row in rows]

    def revoke_token(self, token_id: str, now_ms: int) -> bool:
        """Revoke an active token; False if there is none with this id."""
        with self._locked() as db:
            cursor = db.execute("UPDATE tokens SET revoked_ms = ? "
                                "WHERE id = ? AND revoked_ms IS NULL", (now_ms, token_id))
        return cursor.rowcount == 1

    # ---------------------------------------------------------------- devices

    def add_device(self, record: DeviceRecord) -> None:
        """Insert a new device; Conflict if the id is registered or was ever revoked."""
        with self._locked() as db:
            existing = db.execute("SELECT revoked_ms FROM devices WHERE id = ?",
                                  (record.id,)).fetchone()
            if existing is not None:
                raise taken(record.id, existing["revoked_ms"])
            db.execute(_UPSERT_DEVICE, _device_row(record))

    def save_device(self, record: DeviceRecord) -> None:
        with self._locked() as db:
            db.execute(_UPSERT_DEVICE, _device_row(record))

    def device(self, device_id: str) -> DeviceRecord | None:
        with self._locked() as db:
            row = db.execute("SELECT * FROM devices WHERE id = ?", (device_id,)).fetchone()
        return _device(row) if row else None

    def devices(self, owner: str | None = None) -> list[DeviceRecord]:
        """Every device (of one owner), registered or revoked, by id."""
        with self._locked() as db:
            if owner is None:
                rows = db.execute("SELECT * FROM devices ORDER BY id").fetchall()
            else:
                rows = db.execute("SELECT * FROM devices WHERE owner = ? ORDER BY id",
                                  (owner,)).fetchall()
        return [_device(row) for row in rows]


def taken(device_id: str, revoked_ms: int | None) -> Conflict:
    """Why a device id cannot be registered: it is active, or revoked (a tombstone)."""
    if revoked_ms is None:
        return Conflict(f"device {device_id} is already registered")
    return Conflict(f"device {device_id} was revoked; device ids are never reused, register "
                    "the device under a new id")


def _token(row: sqlite3.Row) -> TokenRecord:
    return TokenRecord(row["id"], row["name"], Role(row["role"]), row["created_ms"],
                       row["revoked_ms"])


def _device_row(record: DeviceRecord) -> tuple[object, ...]:
    return (record.id, record.device.site, record.device.line, record.device.device,
            record.device_type.value, json.dumps(record.metadata, sort_keys=True),
            record.owner, record.mqtt_username, record.ingest_digest, record.created_ms,
            record.credentials_ms, record.revoked_ms)


def _device(row: sqlite3.Row) -> DeviceRecord:
    return DeviceRecord(
        device=DeviceId(row["site"], row["line"], row["device"]),
        device_type=EquipmentType(row["device_type"]), owner=row["owner"],
        mqtt_username=row["mqtt_username"], ingest_digest=row["ingest_digest"],
        created_ms=row["created_ms"], credentials_ms=row["credentials_ms"],
        metadata=json.loads(row["metadata"]), revoked_ms=row["revoked_ms"])
