"""JSON Schema for every message kind, for equipment makers' own validators."""

from __future__ import annotations

from typing import Any

from contract.codec import MODELS
from contract.topics import PREFIX


def json_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema (draft 2020-12) per message kind, keyed by the kind's topic suffix."""
    schemas: dict[str, dict[str, Any]] = {}
    for kind, model in MODELS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://loopmeter.dev/schemas/v1/{kind.value}.json"
        schema["description"] = (f"Payload of {PREFIX}/<site>/<line>/<device>/{kind.value}. "
                                 + (schema.get("description") or ""))
        schemas[kind.value] = schema
    return schemas
