"""Special actions: campaign managers start and end them; everyone may read them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from qinglang.api.deps import DB, require
from qinglang.auth.policy import Principal
from qinglang.campaigns import manage
from qinglang.store.models import Campaign

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


class CampaignIn(BaseModel):
    key: str = Field(max_length=64)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    categories: list[str] = Field(max_length=10)
    starts_at: datetime
    ends_at: datetime
    boost: float = 1.5


@router.get("")
def list_campaigns(db: DB) -> dict[str, Any]:
    with db.read() as s:
        rows = s.execute(select(Campaign).order_by(Campaign.starts_at.desc())).scalars()
        return {"items": [manage.summary(s, c) for c in rows]}


@router.post("", status_code=201)
def create_campaign(body: CampaignIn, db: DB, p: Annotated[Principal, Depends(require("campaigns:write"))]
                    ) -> dict[str, Any]:
    with db.write() as s:
        c = manage.create(s, actor=p.label, created_by=p.user_id, **body.model_dump())
        return manage.summary(s, c)


@router.post("/{key}/end")
def end_campaign(key: str, db: DB, p: Annotated[Principal, Depends(require("campaigns:write"))]) -> dict[str, Any]:
    with db.write() as s:
        return manage.summary(s, manage.end(s, actor=p.label, key=key))
