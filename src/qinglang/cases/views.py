"""Plain-dict views of cases for staff. Reporter contact data never appears here (not even encrypted)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qinglang.auth.policy import Principal, has
from qinglang.store.db import Database
from qinglang.store.models import Case, Decision, Report


def case_summary(c: Case) -> dict[str, Any]:
    return {
        "id": c.id, "category": c.category, "state": c.state, "org_id": c.org_id, "platform": c.platform,
        "canonical_url": c.canonical_url, "priority": round(c.priority, 4), "reporter_count": c.reporter_count,
        "report_count": c.report_count, "debunk_id": c.debunk_id, "claimed_by": c.claimed_by,
        "first_reported_at": c.first_reported_at.isoformat(), "last_reported_at": c.last_reported_at.isoformat(),
        "due_at": c.due_at.isoformat() if c.due_at else None, "overdue": c.overdue,
    }


def case_detail(session: Session, c: Case, principal: Principal) -> dict[str, Any]:
    out = case_summary(c)
    reports = session.execute(select(Report).where(Report.case_id == c.id).order_by(Report.id)).scalars().all()
    out["reports"] = [{"id": r.id, "category": r.category, "url": r.url, "text": r.text,
                       "description": r.description, "lang": r.lang, "trusted": r.trusted,
                       "created_at": r.created_at.isoformat()} for r in reports]
    decisions = session.execute(select(Decision).where(Decision.case_id == c.id).order_by(Decision.id)).scalars()
    out["decisions"] = [decision_dict(d) for d in decisions]
    out["priority_explain"] = c.priority_explain
    out["triage"] = c.triage
    return out


def content_text(c: Case, detail: dict[str, Any]) -> str:
    """The case's text to match against debunks: its content item's, else its first report's that has one."""
    return (c.content.text if c.content else "") or next((r["text"] for r in detail["reports"] if r["text"]), "")


def decision_dict(d: Decision) -> dict[str, Any]:
    return {"id": d.id, "action": d.action, "ground": d.ground, "facts": d.facts, "org_id": d.org_id,
            "automated_detection": d.automated_detection, "automated_decision": d.automated_decision,
            "refer_to_org_id": d.refer_to_org_id, "debunk_id": d.debunk_id, "created_at": d.created_at.isoformat()}


def suggested_debunks(db: Database, p: Principal, debunk_id: int | None, text: str,
                      lang: str) -> list[dict[str, Any]] | None:
    """For those who may act on a case while no debunk is linked to it: the published debunks the matcher finds for
    its content in the bands `match` and `possible` (`possible` is meant for exactly this reader), any of which a
    `label` decision may name. None for everyone else and once a debunk is linked (the console and the API show
    nothing then)."""
    if debunk_id is not None or not has(p, "cases:act"):
        return None
    from qinglang.match.store_source import suggest_debunks

    return suggest_debunks(db, text, lang=lang)
