"""Debunk registry API: search and read (public), create/edit/review/correct/withdraw (experts, reviewers)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from qinglang.api.deps import DB, OptionalPrincipal, require
from qinglang.auth.policy import Principal, has
from qinglang.debunks import registry
from qinglang.errors import Invalid, NotFound
from qinglang.taxonomy import PUBLIC_DEBUNK_STATES

router = APIRouter(prefix="/v1/debunks", tags=["debunks"])


class SourceIn(BaseModel):
    url: str = Field(max_length=2000)
    title: str = Field("", max_length=500)
    publisher: str = Field("", max_length=200)


class DebunkIn(BaseModel):
    claim: str = Field(max_length=2000)
    verdict: str
    summary: str = Field(max_length=1000)
    explanation: str = Field("", max_length=20000)
    lang: str = "zh"
    variants: list[str] = Field(default_factory=list, max_length=50)
    sources: list[SourceIn] = Field(default_factory=list, max_length=50)
    topics: list[str] = Field(default_factory=list, max_length=10)

    def to_input(self) -> registry.DebunkInput:
        d = self.model_dump()
        return registry.DebunkInput(**d)


class DebunkCreate(DebunkIn):
    org: str | None = Field(None, description="publishing organisation key (default: your own)")


class ChangeNote(BaseModel):
    note: str = Field("", max_length=2000)


class ReviewIn(ChangeNote):
    approve: bool


class CorrectIn(DebunkIn):
    note: str = Field(max_length=2000)


@router.get("")
def list_debunks(db: DB, principal: OptionalPrincipal,
                 q: Annotated[str, Query(max_length=500)] = "",
                 mode: Annotated[str, Query(pattern="^(keyword|semantic)$")] = "keyword",
                 verdict: str | None = None, topic: str | None = None,
                 lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None,
                 org: str | None = None, since: date | None = None, until: date | None = None,
                 status: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=100)] = 20,
                 offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    statuses: tuple[str, ...] = ("published", "corrected")
    if status:
        if status not in PUBLIC_DEBUNK_STATES and not has(principal, "debunks:read_unpublished"):
            raise Invalid("only staff may list unpublished debunks", field="status")
        statuses = (status,)
    if mode == "semantic" and q.strip():
        from qinglang.match.store_source import semantic_debunk_ids

        ids = semantic_debunk_ids(db, q, limit=limit + offset)
        with db.read() as s:
            items = []
            for i in ids[offset:]:
                try:
                    d = registry.get(s, i)
                except NotFound:
                    continue
                if d.status in statuses:
                    items.append(registry.public_dict(d))
            return {"items": items, "total": len(items), "mode": "semantic"}
    f = registry.SearchFilters(q=q, verdict=verdict, topic=topic, lang=lang, org=org, since=since, until=until,
                               statuses=statuses, limit=limit, offset=offset)
    with db.read() as s:
        rows, total = registry.search(s, f)
        return {"items": [registry.public_dict(d) for d in rows], "total": total, "mode": "keyword"}


@router.get("/{debunk_id}")
def get_debunk(debunk_id: int, db: DB, principal: OptionalPrincipal) -> dict[str, Any]:
    with db.read() as s:
        d = registry.get(s, debunk_id)
        if d.status not in PUBLIC_DEBUNK_STATES and not has(principal, "debunks:read_unpublished"):
            raise NotFound(f"debunk {debunk_id} not found")
        out = registry.public_dict(d)
        if has(principal, "debunks:read_unpublished"):
            out["versions"] = [{"version": v.version, "claim": v.claim, "verdict": v.verdict, "summary": v.summary,
                                "note": v.note, "editor_id": v.editor_id, "at": v.created_at.isoformat()}
                               for v in d.versions]
        return out


@router.post("", status_code=201)
def create_debunk(body: DebunkCreate, db: DB, p: Annotated[Principal, Depends(require("debunks:write"))]
                  ) -> dict[str, Any]:
    from qinglang.accounts import org_by_key

    with db.write() as s:
        org_id = org_by_key(s, body.org).id if body.org else p.org_id
        if org_id is None:
            raise Invalid("name the publishing organisation", field="org")
        if p.role == "expert" and org_id != p.org_id:
            raise Invalid("experts publish for their own organisation", field="org")
        d = registry.create(s, p, body.to_input(), org_id=org_id)
        return registry.public_dict(d)


@router.put("/{debunk_id}")
def edit_debunk(debunk_id: int, body: DebunkIn, db: DB,
                p: Annotated[Principal, Depends(require("debunks:write"))]) -> dict[str, Any]:
    with db.write() as s:
        return registry.public_dict(registry.edit(s, p, debunk_id, body.to_input()))


@router.post("/{debunk_id}/submit")
def submit_debunk(debunk_id: int, db: DB, p: Annotated[Principal, Depends(require("debunks:write"))]
                  ) -> dict[str, Any]:
    with db.write() as s:
        return registry.public_dict(registry.submit(s, p, debunk_id))


@router.post("/{debunk_id}/review")
def review_debunk(debunk_id: int, body: ReviewIn, db: DB,
                  p: Annotated[Principal, Depends(require("debunks:review"))]) -> dict[str, Any]:
    with db.write() as s:
        return registry.public_dict(registry.review(s, p, debunk_id, approve=body.approve, note=body.note))


@router.post("/{debunk_id}/correct")
def correct_debunk(debunk_id: int, body: CorrectIn, db: DB,
                   p: Annotated[Principal, Depends(require("debunks:write"))]) -> dict[str, Any]:
    with db.write() as s:
        data = registry.DebunkInput(**body.model_dump(exclude={"note"}))
        return registry.public_dict(registry.correct(s, p, debunk_id, data, note=body.note))


@router.post("/{debunk_id}/withdraw")
def withdraw_debunk(debunk_id: int, body: ChangeNote, db: DB,
                    p: Annotated[Principal, Depends(require("debunks:write"))]) -> dict[str, Any]:
    with db.write() as s:
        return registry.public_dict(registry.withdraw(s, p, debunk_id, note=body.note))
