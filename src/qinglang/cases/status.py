"""What a reporter sees when tracking a receipt: status, the case it joined, the matched debunk, the outcome.

Nothing personal about anyone else: no other reporter's data, no agent names, no contact details.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qinglang.debunks import registry
from qinglang.errors import NotFound
from qinglang.store.models import Appeal, Case, Decision, Organisation, Report
from qinglang.taxonomy import ACTIONS, CASE_STATES, CATEGORY_BY_CODE, PUBLIC_DEBUNK_STATES, label_name

_STATUS_OF_STATE = {"new": "processing", "routed": "routed", "in_progress": "in_progress", "referred": "routed",
                    "escalated": "in_progress", "actioned": "decided", "no_violation": "decided",
                    "appealed": "appealed", "closed": "closed"}


def report_status(session: Session, receipt: str, *, lang: str = "en") -> dict[str, Any]:
    r = session.execute(select(Report).where(Report.receipt == receipt.strip().upper())).scalar_one_or_none()
    if r is None:
        raise NotFound("no report with this receipt", field="receipt")
    history = [{"at": r.created_at.isoformat(), "event": "received"}]
    out: dict[str, Any] = {
        "receipt": r.receipt, "status": "received" if not r.processed else "processing",
        "category": r.category, "category_name": CATEGORY_BY_CODE[r.category].name(lang),
        "created_at": r.created_at.isoformat(), "case": None, "debunk": None, "outcome": None, "appeal": None,
        "history": history,
    }
    case = session.get(Case, r.case_id) if r.case_id else None
    debunk_id = r.debunk_id or (case.debunk_id if case else None)
    if debunk_id:
        d = registry.get(session, debunk_id)
        if d.status in PUBLIC_DEBUNK_STATES:
            out["debunk"] = registry.public_dict(d, lang)
    if case is None:
        return out
    org = session.get(Organisation, case.org_id) if case.org_id else None
    out["status"] = _STATUS_OF_STATE.get(case.state, "processing")
    out["case"] = {"id": case.id, "state": case.state, "state_name": label_name(CASE_STATES, case.state, lang),
                   "reporter_count": case.reporter_count, "routed_to": org.name(lang) if org else None,
                   "due_at": case.due_at.isoformat() if case.due_at else None}
    history.append({"at": case.created_at.isoformat(), "event": "routed" if org else "processing"})
    decisions = session.execute(select(Decision).where(Decision.case_id == case.id).order_by(Decision.id)).scalars()
    for dec in decisions:
        history.append({"at": dec.created_at.isoformat(),
                        "event": f"decision: {label_name(ACTIONS, dec.action, lang)}"})
        out["outcome"] = {"action": dec.action, "action_name": label_name(ACTIONS, dec.action, lang),
                          "ground": dec.ground, "facts": dec.facts, "automated_decision": dec.automated_decision,
                          "decided_at": dec.created_at.isoformat()}
    appeal = session.execute(select(Appeal).where(Appeal.case_id == case.id).order_by(Appeal.id.desc())
                             .limit(1)).scalar_one_or_none()
    if appeal is not None:
        history.append({"at": appeal.created_at.isoformat(), "event": "appealed by the content owner"})
        out["appeal"] = {"status": appeal.status, "outcome": appeal.outcome}
        if appeal.decided_at:
            history.append({"at": appeal.decided_at.isoformat(), "event": f"appeal {appeal.outcome}"})
    return out
