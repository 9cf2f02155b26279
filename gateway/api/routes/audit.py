"""The audit ledger: its records and a verification of the whole hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from carbon import StoredRecord
from gateway.api.deps import GatewayDep, ReportViewer
from gateway.api.models import IDENTIFIER, at_ms
from gateway.api.problems import problem_responses

MAX_SEQ = 2**63 - 1  # SQLite's largest integer: a larger seq is a 422, never a 500
router = APIRouter(prefix="/v1/ledger", tags=["audit"], responses=problem_responses(401, 403, 422))


class LedgerRecordPublic(BaseModel):
    seq: int
    hash: str
    site: str
    period: str
    kind: str = Field(description="`close`, or `recalculation` of the record it supersedes.")
    supersedes: str | None
    previous: str = Field(description="Hash of the record before this one in the chain.")
    recorded_at: datetime

    @classmethod
    def of(cls, record: StoredRecord) -> LedgerRecordPublic:
        body = record.data()
        return cls(seq=record.seq, hash=record.hash, site=record.site, period=record.period,
                   kind=body["kind"], supersedes=body.get("supersedes"),
                   previous=body["previous"], recorded_at=at_ms(body["recorded_ms"]))


class LedgerRecordFull(LedgerRecordPublic):
    body: dict[str, Any] = Field(description="The canonical body whose SHA-256 is `hash`.")
    canonical_body: str = Field(description="The exact text that was hashed.")


class BrokenLink(BaseModel):
    seq: int
    reason: str


class ChainVerification(BaseModel):
    ok: bool
    records: int
    head: str = Field(description="Hash of the newest verified record; archive it.")
    broken: BrokenLink | None


@router.get("/records")
def ledger_records(gateway: GatewayDep, _principal: ReportViewer,
                   site: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
                   period: Annotated[str | None, Query(max_length=16)] = None,
                   after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ,
                                                   description="Page after this seq.")]
                   = 0,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   ) -> list[LedgerRecordPublic]:
    """Records in chain order; page with `after_seq` = the last seq seen."""
    records = gateway.adapters.reports.records(site, period, after_seq, limit)
    return [LedgerRecordPublic.of(record) for record in records]


@router.get("/records/{seq}", responses=problem_responses(404))
def ledger_record(seq: Annotated[int, Path(ge=1, le=MAX_SEQ)], gateway: GatewayDep,
                  _principal: ReportViewer) -> LedgerRecordFull:
    """One record with its full body, to recompute its hash independently."""
    record = gateway.adapters.reports.record(seq)
    public = LedgerRecordPublic.of(record)
    return LedgerRecordFull(**public.model_dump(), body=record.data(),
                            canonical_body=record.body)


@router.get("/verify")
def verify_ledger(gateway: GatewayDep, _principal: ReportViewer) -> ChainVerification:
    """Recompute every hash and link; name the first record that does not hold."""
    result = gateway.adapters.reports.verify()
    broken = BrokenLink(seq=result.broken.seq, reason=result.broken.reason) \
        if result.broken else None
    return ChainVerification(ok=result.ok, records=result.records, head=result.head,
                             broken=broken)
