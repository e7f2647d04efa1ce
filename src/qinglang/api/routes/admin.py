"""Admin API: organisations, users, tokens, routing rules, and the audit chain check."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from qinglang import accounts, audit
from qinglang.api.deps import DB, Settings, require
from qinglang.auth.policy import Principal
from qinglang.store.models import Organisation, RoutingRule

router = APIRouter(prefix="/v1", tags=["admin"])


class OrgCreate(BaseModel):
    key: str = Field(max_length=64)
    kind: str
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    jurisdiction: dict[str, list[str]] = Field(default_factory=dict)
    supervisor: str | None = None
    webhook_url: str | None = Field(None, max_length=500)
    webhook_secret: str | None = Field(None, max_length=200)


class OrgPublic(BaseModel):
    id: int
    key: str
    kind: str
    name_zh: str
    name_en: str
    jurisdiction: dict[str, Any]
    supervisor_id: int | None
    webhook_url: str | None


class UserCreate(BaseModel):
    username: str = Field(max_length=64)
    role: str
    password: str | None = Field(None, max_length=200)
    org: str | None = None
    display_name: str = Field("", max_length=200)


class UserPublic(BaseModel):
    id: int
    username: str
    role: str
    org_id: int | None
    display_name: str
    active: bool


class TokenCreate(BaseModel):
    username: str
    name: str = Field("", max_length=100)
    org: str | None = None
    days: int | None = Field(None, ge=1, le=3650)
    trusted_flagger: bool = False


class RuleCreate(BaseModel):
    category: str | None = None
    domain: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=32)
    org: str
    priority: int = 0


@router.get("/orgs", response_model=list[OrgPublic])
def list_orgs(db: DB, _: Annotated[Principal, Depends(require("orgs:read"))]) -> list[Organisation]:
    with db.read() as s:
        return list(s.execute(select(Organisation).order_by(Organisation.id)).scalars())


@router.post("/orgs", response_model=OrgPublic, status_code=201)
def create_org(body: OrgCreate, db: DB, settings: Settings,
               p: Annotated[Principal, Depends(require("orgs:write"))]) -> Organisation:
    with db.write() as s:
        return accounts.create_org(s, actor=p.label, secret=settings.secret(), **body.model_dump())


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, db: DB, p: Annotated[Principal, Depends(require("users:write"))]) -> Any:
    with db.write() as s:
        return accounts.create_user(s, actor=p.label, **body.model_dump())


@router.post("/tokens", status_code=201)
def create_token(body: TokenCreate, db: DB, p: Annotated[Principal, Depends(require("tokens:write"))]
                 ) -> dict[str, Any]:
    with db.write() as s:
        row, token = accounts.create_token(s, actor=p.label, **body.model_dump())
        return {"id": row.id, "prefix": row.prefix, "token": token,
                "note": "store this token now: it is shown once and kept only as a hash"}


@router.post("/routing-rules", status_code=201)
def create_rule(body: RuleCreate, db: DB, p: Annotated[Principal, Depends(require("routing:write"))]
                ) -> dict[str, Any]:
    from qinglang.cases.routing import add_rule

    with db.write() as s:
        rule = add_rule(s, actor=p.label, category=body.category, domain=body.domain, region=body.region,
                        org=body.org, priority=body.priority)
        return {"id": rule.id, "category": rule.category, "domain": rule.domain, "region": rule.region,
                "org_id": rule.org_id, "priority": rule.priority}


@router.get("/routing-rules")
def list_rules(db: DB, _: Annotated[Principal, Depends(require("orgs:read"))]) -> list[dict[str, Any]]:
    with db.read() as s:
        rows = s.execute(select(RoutingRule, Organisation.key).join(Organisation)
                         .order_by(RoutingRule.priority.desc(), RoutingRule.id)).all()
        return [{"id": r.id, "category": r.category, "domain": r.domain, "region": r.region, "org": key,
                 "priority": r.priority} for r, key in rows]


@router.get("/audit/verify")
def verify_audit(db: DB, _: Annotated[Principal, Depends(require("audit:read"))]) -> dict[str, Any]:
    with db.read() as s:
        r = audit.verify(s)
    return {"ok": r.ok, "checked": r.checked, "first_bad_id": r.first_bad_id, "reason": r.reason}


@router.get("/export/sor")
def export_sor(db: DB, _: Annotated[Principal, Depends(require("export:sor"))], since: date | None = None,
               until: date | None = None) -> list[dict[str, Any]]:
    """Decisions as EU DSA Transparency Database statements of reasons (each validated against its rules)."""
    from qinglang.stats.sor import statements

    start = datetime.combine(since, datetime.min.time(), UTC) if since else None
    end = datetime.combine(until, datetime.max.time(), UTC) if until else None
    with db.read() as s:
        return statements(s, since=start, until=end)
