"""Blocklists, hash banks and indicator networks for reviewers and integrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from qinglang.api.deps import DB, CurrentPrincipal, require
from qinglang.auth.policy import Principal, authorize, scope_cases
from qinglang.cases import intel
from qinglang.errors import TooLarge
from qinglang.store.models import BlocklistEntry, HashBank, HashBankEntry

router = APIRouter(prefix="/v1", tags=["intelligence"])
MAX_CSV = 20 * 1024 * 1024


class BlockIn(BaseModel):
    kind: str
    value: str = Field(max_length=500)
    source: str = Field(max_length=200)
    reason: str = Field("", max_length=2000)
    expires_at: datetime | None = None


class BankIn(BaseModel):
    name: str = Field(max_length=100)
    source_org: str | None = None
    action_policy: str = "review"


@router.get("/blocklist")
def list_blocklist(db: DB, _: CurrentPrincipal, kind: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    q = select(BlocklistEntry).order_by(BlocklistEntry.id.desc()).limit(limit)
    if kind:
        q = q.where(BlocklistEntry.kind == kind)
    with db.read() as s:
        return {"items": [intel.block_dict(r) for r in s.execute(q).scalars()]}


@router.post("/blocklist", status_code=201)
def add_block(body: BlockIn, db: DB, p: Annotated[Principal, Depends(require("blocklists:write"))]
              ) -> dict[str, Any]:
    with db.write() as s:
        return intel.block_dict(intel.add_block(s, actor=p.label, created_by=p.user_id, **body.model_dump()))


@router.delete("/blocklist/{entry_id}", status_code=204)
def remove_block(entry_id: int, db: DB, p: Annotated[Principal, Depends(require("blocklists:write"))]) -> None:
    with db.write() as s:
        intel.remove_block(s, actor=p.label, entry_id=entry_id)


@router.get("/hash-banks")
def list_banks(db: DB, _: CurrentPrincipal) -> dict[str, Any]:
    from sqlalchemy import func

    with db.read() as s:
        counts = dict(s.execute(select(HashBankEntry.bank_id, func.count()).group_by(HashBankEntry.bank_id)).all())
        return {"items": [{"id": b.id, "name": b.name, "action_policy": b.action_policy,
                           "source_org_id": b.source_org_id, "entries": int(counts.get(b.id, 0))}
                          for b in s.execute(select(HashBank).order_by(HashBank.id)).scalars()]}


@router.post("/hash-banks", status_code=201)
def create_bank(body: BankIn, db: DB, p: Annotated[Principal, Depends(require("hashbanks:write"))]
                ) -> dict[str, Any]:
    with db.write() as s:
        b = intel.create_bank(s, actor=p.label, **body.model_dump())
        return {"id": b.id, "name": b.name, "action_policy": b.action_policy}


@router.post("/hash-banks/{name}/import")
async def import_bank(name: str, request: Request, db: DB,
                      p: Annotated[Principal, Depends(require("hashbanks:write"))]) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_CSV:
        raise TooLarge("CSV larger than 20 MB", field="body")
    with db.write() as s:
        added, skipped = intel.import_bank_csv(s, actor=p.label, bank=name, text=raw.decode("utf-8-sig"))
    return {"added": added, "skipped": skipped}


@router.get("/hash-banks/{name}/export", response_class=PlainTextResponse)
def export_bank(name: str, db: DB, _: CurrentPrincipal) -> PlainTextResponse:
    with db.read() as s:
        return PlainTextResponse(intel.export_bank_csv(s, name), media_type="text/csv")


@router.get("/networks")
def list_networks(db: DB, p: CurrentPrincipal, kind: str | None = None,
                  min_cases: Annotated[int, Query(ge=2, le=1000)] = 2,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    """Indicators (phones, domains, accounts…) shared by several cases, with the cases you may see."""
    authorize(p, "cases:read")
    with db.read() as s:
        return {"items": intel.networks(s, kind=kind, min_cases=min_cases, limit=limit,
                                        case_filter=lambda q: scope_cases(p, q))}
