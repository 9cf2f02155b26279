"""HTTP ingest for devices that cannot speak MQTT: validated, then published to the broker.

Publishing into MQTT (rather than writing InfluxDB here) keeps one ingest path: the ingest
service stores what arrives over HTTP exactly as what arrives over MQTT.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, HTTPException, Path, Request, status
from starlette.concurrency import run_in_threadpool

from contract import ContractError, DataMessage, Limits, MessageKind, decode_payload
from gateway.api.deps import UNAUTHENTICATED, BearerToken, GatewayDep
from gateway.api.models import DEVICE_ID, IngestAccepted
from gateway.api.problems import problem_responses
from gateway.context import Gateway

router = APIRouter(prefix="/v1/devices", tags=["ingest"])
DevicePath = Annotated[str, Path(pattern=DEVICE_ID, description="`site.line.device`")]
DATA_SCHEMA = "DataMessage"
_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": f"#/components/schemas/{DATA_SCHEMA}"}}}}}


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing to buffer more than `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"The body exceeds {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(gateway: Gateway, body: bytes) -> DataMessage:
    limits = Limits(max_payload_bytes=gateway.settings.max_ingest_bytes)
    try:
        message = decode_payload(MessageKind.DATA, body, now_ms=gateway.clock.now_ms(),
                                 limits=limits)
    except ContractError as error:
        gateway.telemetry.ingested.labels(error.reason.value).inc()
        raise
    return cast(DataMessage, message)  # the DATA model is DataMessage


@router.post("/{device_id}/data", status_code=status.HTTP_202_ACCEPTED, openapi_extra=_BODY,
             responses=problem_responses(401, 413, 422, 503))
async def ingest_data(device_id: DevicePath, request: Request, gateway: GatewayDep,
                      token: BearerToken) -> IngestAccepted:
    """Accept one v1 data message, authenticated by the device's ingest token.

    Answers once the broker has acknowledged the message (QoS 1).
    """
    record = gateway.devices.authenticate(device_id, token)
    if record is None:
        raise HTTPException(401, "Not a valid ingest token for this device.",
                            headers=UNAUTHENTICATED)
    body = await _read_body(request, gateway.settings.max_ingest_bytes)
    message = _decode(gateway, body)
    if message.device_type is not record.device_type:
        gateway.telemetry.ingested.labels("device_type_mismatch").inc()
        raise HTTPException(422, f"The device is registered as {record.device_type.value}, "
                                 f"not {message.device_type.value}.")
    topic = record.device.topic(MessageKind.DATA)
    await run_in_threadpool(gateway.adapters.publisher.publish, topic, body)
    gateway.telemetry.ingested.labels("accepted").inc()
    return IngestAccepted(topic=topic, seq=message.seq, samples=len(message.samples))
