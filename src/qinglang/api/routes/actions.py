"""Case actions for reviewers and org agents (claim, decide, release) and appeals (public filing, staff decision)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from qinglang.api.deps import DB, CurrentPrincipal, Settings, require
from qinglang.auth.policy import Principal
from qinglang.cases import views, workflow

router = APIRouter(prefix="/v1", tags=["cases"])


class DecisionIn(BaseModel):
    action: str = Field(description="remove, restrict, label, warn, no_violation, refer, escalate_law_enforcement")
    ground: str = Field(max_length=2000, description="the legal or policy ground")
    facts: str = Field(max_length=5000, description="the facts and circumstances relied on")
    automated_detection: bool = False
    automated_decision: bool = False
    refer_to: str | None = Field(None, max_length=64, description="organisation key, for action=refer")
    debunk_id: int | None = None


class AppealIn(BaseModel):
    token: str = Field(max_length=200)
    statement: str = Field(max_length=5000)
    contact: str | None = Field(None, max_length=200)


class AppealDecisionIn(BaseModel):
    outcome: str = Field(pattern="^(upheld|reversed)$")
    reasons: str = Field(max_length=5000)


@router.get("/queue")
def my_queue(db: DB, p: CurrentPrincipal, category: str | None = None, sla: str | None = None,
             campaign_id: int | None = None, org_id: int | None = None,
             order: Annotated[str, Query(pattern="^(priority|uncertain)$")] = "priority",
             limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    with db.read() as s:
        cases = workflow.queue(s, p, category=category, sla=sla, campaign_id=campaign_id, org_id=org_id, limit=limit,
                               order=order)
        return {"items": [views.case_summary(c) for c in cases]}


@router.post("/cases/{case_id}/claim")
def claim(case_id: int, db: DB, p: Annotated[Principal, Depends(require("cases:act"))]) -> dict[str, Any]:
    return views.case_summary(workflow.claim(db, p, case_id))


@router.post("/cases/{case_id}/release")
def release(case_id: int, db: DB, p: Annotated[Principal, Depends(require("cases:act"))]) -> dict[str, Any]:
    return views.case_summary(workflow.release(db, p, case_id))


@router.post("/cases/{case_id}/decisions", status_code=201)
def decide(case_id: int, body: DecisionIn, db: DB, p: Annotated[Principal, Depends(require("cases:act"))]
           ) -> dict[str, Any]:
    d, token = workflow.decide(db, p, case_id, **body.model_dump())
    out = views.decision_dict(d)
    if token:
        out["appeal_token"] = token
        out["appeal_url"] = f"/appeal?token={token}"
        out["appeal_note"] = "hand this link to the content owner; it is shown once"
    return out


@router.post("/appeals", status_code=201)
def file_appeal(body: AppealIn, db: DB, settings: Settings) -> dict[str, Any]:
    a = workflow.appeal(db, settings, body.token, statement=body.statement, contact=body.contact)
    return {"id": a.id, "case_id": a.case_id, "status": a.status}


@router.get("/appeals")
def list_appeals(db: DB, p: CurrentPrincipal) -> dict[str, Any]:
    with db.read() as s:
        return {"items": workflow.pending_appeals(s, p)}


@router.post("/appeals/{appeal_id}/decision")
def decide_appeal(appeal_id: int, body: AppealDecisionIn, db: DB,
                  p: Annotated[Principal, Depends(require("appeals:decide"))]) -> dict[str, Any]:
    a = workflow.decide_appeal(db, p, appeal_id, outcome=body.outcome, reasons=body.reasons)
    return {"id": a.id, "case_id": a.case_id, "status": a.status, "outcome": a.outcome}
