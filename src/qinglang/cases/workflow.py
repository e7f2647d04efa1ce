"""The decision workflow: claim a case, act on it with a statement of reasons, refer, escalate, appeal.

Every decision carries the legal or policy ground, the facts, and whether detection or the decision was
automated. Appeals are decided by a different person than the one who made the decision. Every step is
audited and announced to the responsible organisation by webhook.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from qinglang import audit
from qinglang.accounts import org_by_key
from qinglang.auth import secrets as sec
from qinglang.auth.policy import Principal, authorize, require_case, scope_cases
from qinglang.cases.reporters import add_rejections
from qinglang.cases.sla import DUE_SOON_FRACTION
from qinglang.cases.webhooks import emit
from qinglang.errors import Conflict, Forbidden, Invalid, NotFound
from qinglang.observability import DECISIONS
from qinglang.settings import Settings
from qinglang.store.db import Database
from qinglang.store.models import Appeal, Case, Debunk, Decision, Report
from qinglang.taxonomy import (
    ACTION_CODES,
    CATEGORIES,
    CATEGORY_BY_CODE,
    CATEGORY_CODES,
    OPEN_CASE_STATES,
    PUBLIC_DEBUNK_STATES,
    check_code,
)

STATE_AFTER = {"remove": "actioned", "restrict": "actioned", "label": "actioned", "warn": "actioned",
               "no_violation": "no_violation", "refer": "referred", "escalate_law_enforcement": "escalated"}
APPEALABLE = frozenset({"remove", "restrict", "label", "warn"})
MIN_REASON = 10


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


def claim(db: Database, principal: Principal, case_id: int) -> Case:
    """Take a case for yourself. Race-free: a conditional UPDATE, so two agents never both win."""
    with db.write() as s:
        case = _case(s, case_id)
        require_case(principal, case, "cases:act")
        if case.state not in OPEN_CASE_STATES:
            raise Conflict(f"case is {case.state}; it cannot be claimed", field="state")
        now = datetime.now(UTC)
        res = s.execute(update(Case).where(Case.id == case_id)
                        .where(or_(Case.claimed_by.is_(None), Case.claimed_by == principal.user_id))
                        .values(claimed_by=principal.user_id, claimed_at=now, updated_at=now,
                                state="in_progress" if case.state in ("new", "routed") else case.state))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("case is already claimed by someone else", field="claimed_by")
        audit.record(s, actor=principal.label, action="case.claim", object_type="case", object_id=case_id,
                     summary={})
        s.refresh(case)
        return case


def release(db: Database, principal: Principal, case_id: int) -> Case:
    with db.write() as s:
        case = _case(s, case_id)
        require_case(principal, case, "cases:act")
        if case.claimed_by != principal.user_id and principal.role != "admin":
            raise Forbidden("only the claimant releases a case")
        case.claimed_by = None
        case.claimed_at = None
        audit.record(s, actor=principal.label, action="case.release", object_type="case", object_id=case_id,
                     summary={})
        return case


def decide(db: Database, principal: Principal, case_id: int, *, action: str, ground: str, facts: str,
           automated_detection: bool = False, automated_decision: bool = False, refer_to: str | None = None,
           debunk_id: int | None = None) -> tuple[Decision, str | None]:
    """Act on a case with a statement of reasons. Returns (decision, appeal token for the content owner)."""
    check_code(action, ACTION_CODES, field="action")
    if len(ground.strip()) < MIN_REASON:
        raise Invalid("state the legal or policy ground (at least 10 characters)", field="ground")
    if len(facts.strip()) < MIN_REASON:
        raise Invalid("state the facts and circumstances (at least 10 characters)", field="facts")
    if len(ground) > 2000 or len(facts) > 5000:
        raise Invalid("ground is limited to 2000 and facts to 5000 characters", field="facts")
    with db.write() as s:
        case = _case(s, case_id)
        require_case(principal, case, "cases:act")
        if case.state not in OPEN_CASE_STATES - {"appealed"}:
            raise Conflict(f"case is {case.state}; it has been decided", field="state")
        if case.claimed_by not in (None, principal.user_id):
            raise Conflict("case is claimed by someone else", field="claimed_by")
        refer_org = None
        if action == "refer":
            if not refer_to:
                raise Invalid("name the organisation to refer to", field="refer_to")
            refer_org = org_by_key(s, refer_to)
            if refer_org.id == case.org_id:
                raise Invalid("refer to another organisation", field="refer_to")
        if action == "label":
            debunk_id = debunk_id or case.debunk_id
            if debunk_id is None:
                raise Invalid("labelling needs a debunk", field="debunk_id")
        if debunk_id is not None:  # named, or the case's own (withdrawn since it was matched, perhaps)
            status = s.execute(select(Debunk.status).where(Debunk.id == debunk_id)).scalar()
            if status not in PUBLIC_DEBUNK_STATES:
                raise Invalid(f"debunk {debunk_id} is not a published debunk", field="debunk_id")
        if action == "label":  # the content now carries that debunk: the case links to it, its reporters see it
            case.debunk_id = debunk_id
        token = sec.new_opaque_token() if action in APPEALABLE else None
        d = Decision(case_id=case.id, org_id=case.org_id if principal.role == "org_agent" else principal.org_id,
                     actor_id=principal.user_id, action=action, ground=ground.strip(), facts=facts.strip(),
                     automated_detection=automated_detection, automated_decision=automated_decision,
                     refer_to_org_id=refer_org.id if refer_org else None, debunk_id=debunk_id,
                     appeal_token_hash=sec.sha256_hex(token) if token else None)
        s.add(d)
        now = datetime.now(UTC)
        before = case.state
        case.state = STATE_AFTER[action]
        case.updated_at = now
        if action == "refer":
            assert refer_org is not None
            case.org_id = refer_org.id
            case.claimed_by = None
            case.due_at = now + CATEGORY_BY_CODE[case.category].sla
        else:
            case.decided_at = now
        if action == "no_violation":
            newly = select(Report.reporter_key).where(Report.case_id == case.id, Report.rejected.is_(False))
            add_rejections(s, s.execute(newly).scalars().all())
            s.execute(update(Report).where(Report.case_id == case.id).values(rejected=True))
        s.flush()
        DECISIONS.labels(action).inc()
        audit.record(s, actor=principal.label, action=f"case.decide.{action}", object_type="case",
                     object_id=case.id, summary={"decision": d.id, "from": before, "to": case.state,
                                                 "ground": ground[:200], "refer_to": refer_to})
        if action == "refer" and refer_org is not None:
            emit(s, org_id=refer_org.id, event="case.routed",
                 payload={"case": {"id": case.id, "category": case.category, "url": case.canonical_url},
                          "reason": f"referred: {facts[:300]}"})
        elif case.org_id is not None:
            emit(s, org_id=case.org_id, event="case.decided",
                 payload={"case": {"id": case.id, "state": case.state}, "decision": {"id": d.id, "action": action}})
        return d, token


def appeal(db: Database, settings: Settings, appeal_token: str, *, statement: str,
           contact: str | None = None) -> Appeal:
    """The content owner's appeal, through the link the platform handed over."""
    if len(statement.strip()) < MIN_REASON:
        raise Invalid("say why the decision is wrong (at least 10 characters)", field="statement")
    if len(statement) > 5000 or (contact and len(contact) > 200):
        raise Invalid("statement is limited to 5000 and contact to 200 characters", field="statement")
    with db.write() as s:
        d = s.execute(select(Decision).where(Decision.appeal_token_hash == sec.sha256_hex(appeal_token.strip()))
                      ).scalar_one_or_none()
        if d is None:
            raise NotFound("this appeal link is not valid", field="token")
        if s.execute(select(Appeal.id).where(Appeal.decision_id == d.id)).first():
            raise Conflict("this decision has already been appealed", field="token")
        case = _case(s, d.case_id)
        a = Appeal(decision_id=d.id, case_id=case.id, statement=statement.strip(),
                   contact_enc=sec.encrypt(settings.secret(), contact) if contact else None)
        s.add(a)
        case.state = "appealed"
        case.updated_at = datetime.now(UTC)
        s.flush()
        audit.record(s, actor="public:content-owner", action="case.appeal", object_type="case", object_id=case.id,
                     summary={"appeal": a.id, "decision": d.id})
        if case.org_id is not None:
            emit(s, org_id=case.org_id, event="case.appealed",
                 payload={"case": {"id": case.id, "state": case.state}, "appeal": {"id": a.id, "decision": d.id}})
        return a


def decide_appeal(db: Database, principal: Principal, appeal_id: int, *, outcome: str, reasons: str) -> Appeal:
    """Uphold or reverse, by someone other than the original decision-maker."""
    authorize(principal, "appeals:decide")
    check_code(outcome, ("upheld", "reversed"), field="outcome")
    if len(reasons.strip()) < MIN_REASON:
        raise Invalid("give the reasons for the appeal decision (at least 10 characters)", field="reasons")
    with db.write() as s:
        a = s.get(Appeal, appeal_id)
        if a is None:
            raise NotFound(f"appeal {appeal_id} not found")
        if a.status != "pending":
            raise Conflict("this appeal has been decided", field="status")
        d = s.get(Decision, a.decision_id)
        assert d is not None
        if d.actor_id == principal.user_id:
            raise Forbidden("an appeal is decided by someone other than the original decision-maker")
        now = datetime.now(UTC)
        a.status, a.outcome, a.reasons, a.decided_by, a.decided_at = "decided", outcome, reasons.strip(), \
            principal.user_id, now
        case = _case(s, a.case_id)
        case.state = "closed"
        case.updated_at = now
        audit.record(s, actor=principal.label, action=f"appeal.{outcome}", object_type="case", object_id=case.id,
                     summary={"appeal": a.id, "decision": d.id, "reasons": reasons[:200]})
        if case.org_id is not None:
            emit(s, org_id=case.org_id, event="case.decided",
                 payload={"case": {"id": case.id, "state": case.state},
                          "appeal": {"id": a.id, "outcome": outcome, "reasons": reasons.strip()}})
        return a


def queue(session: Session, principal: Principal, *, category: str | None = None, campaign_id: int | None = None,
          org_id: int | None = None, sla: str | None = None, state: str | None = None, limit: int = 50,
          offset: int = 0, now: datetime | None = None, order: str = "priority") -> list[Case]:
    """Open cases this principal may see, highest priority first — or, with order="uncertain", the cases the
    category model is least sure about first (active learning: their decisions teach the model most)."""
    now = now or datetime.now(UTC)
    q = scope_cases(principal, select(Case)).where(Case.state.in_(OPEN_CASE_STATES if state is None else {state}))
    if category:
        q = q.where(Case.category == category)
    if campaign_id:
        q = q.where(Case.campaign_id == campaign_id)
    if org_id:
        q = q.where(Case.org_id == org_id)
    if sla == "overdue":
        q = q.where(or_(Case.overdue.is_(True), Case.due_at < now))
    elif sla == "due_soon":  # the same rule as `sla.due_state`: under a quarter of the category's SLA left
        q = q.where(Case.overdue.is_(False), Case.due_at >= now, or_(*(
            and_(Case.category == c.code, Case.due_at < now + c.sla * DUE_SOON_FRACTION) for c in CATEGORIES)))
    elif sla is not None:
        raise Invalid("sla must be due_soon or overdue", field="sla")
    if order == "uncertain":
        from qinglang.triage.categories import uncertain_first

        pool = [c for c in session.execute(q.order_by(Case.priority.desc(), Case.id).limit(2000)).scalars()
                if (c.triage or {}).get("categories")]
        probs = [{k: float(c.triage["categories"].get(k, 0.0)) for k in CATEGORY_CODES} for c in pool]
        return [pool[i] for i in uncertain_first(probs)][offset:offset + limit]
    if order != "priority":
        raise Invalid("order must be priority or uncertain", field="order")
    q = q.order_by(Case.priority.desc(), Case.id).limit(limit).offset(offset)
    return list(session.execute(q).scalars())


def pending_appeals(session: Session, principal: Principal) -> list[dict[str, Any]]:
    authorize(principal, "appeals:decide")
    rows = session.execute(select(Appeal).where(Appeal.status == "pending").order_by(Appeal.id)).scalars()
    return [{"id": a.id, "case_id": a.case_id, "decision_id": a.decision_id, "statement": a.statement,
             "created_at": a.created_at.isoformat()} for a in rows]
