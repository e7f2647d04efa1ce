"""Webhook delivery log: organisations see every attempt to reach their endpoint; admins see all.

Thin: authorize, call `cases.webhooks`, render. Never return a webhook secret or the signature.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from qinglang.api.deps import DB, require
from qinglang.auth.policy import Principal
from qinglang.cases import webhooks
from qinglang.errors import Forbidden

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Reader = Annotated[Principal, Depends(require("cases:read"))]


@router.get("/deliveries")
def deliveries(db: DB, p: Reader,
               org_id: Annotated[int | None, Query(description="admins only: one organisation")] = None,
               status: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
               event: Annotated[str | None, Query(max_length=32)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    if p.role != "admin":
        if p.org_id is None:
            raise Forbidden("only organisation members and admins see webhook deliveries")
        if org_id not in (None, p.org_id):
            raise Forbidden("you see your own organisation's deliveries only")
        org_id = p.org_id
    with db.read() as s:
        rows = webhooks.list_deliveries(s, org_id=org_id, status=status, event=event, limit=limit, offset=offset)
        return {"items": [webhooks.delivery_dict(d) for d in rows]}
