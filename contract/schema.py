"""JSON Schema for every message kind, for equipment makers' own validators."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from contract.codec import MODELS
from contract.messages import AckMessage
from contract.topics import ACK_SUFFIX, PREFIX

ACK = "ack"


def json_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema (draft 2020-12) per message kind, keyed by the kind's topic suffix,
    and the acknowledgement that ingest sends to devices, keyed `ack`."""
    schemas = {kind.value: _schema(model, kind.value, kind.value)
               for kind, model in MODELS.items()}
    schemas[ACK] = _schema(AckMessage, ACK, ACK_SUFFIX)
    return schemas


def _schema(model: type[BaseModel], name: str, suffix: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://loopmeter.dev/schemas/v1/{name}.json"
    schema["description"] = (f"Payload of {PREFIX}/<site>/<line>/<device>/{suffix}. "
                             + (schema.get("description") or ""))
    return schema
