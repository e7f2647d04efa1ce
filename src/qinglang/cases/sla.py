"""SLA timers: find open cases past their deadline and escalate them to the supervising organisation.

`sweep` runs as the `sla_sweep` job, which re-schedules itself every minute (one pending at a time); the app
calls `ensure_scheduled` at startup. Escalation is audited and announced by webhook to both organisations.
Never escalate a case twice, never touch decided or appealed cases (an appeal has its own reviewer), and never
send network requests from here (webhooks go through their own job).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from qinglang import audit
from qinglang.cases import webhooks
from qinglang.jobs.queue import enqueue_once
from qinglang.jobs.worker import handler
from qinglang.store.db import Database
from qinglang.store.models import Case, Organisation
from qinglang.taxonomy import CATEGORY_BY_CODE, OPEN_CASE_STATES

log = structlog.get_logger("qinglang.sla")

JOB_KIND = "sla_sweep"
INTERVAL = timedelta(seconds=60)
DUE_SOON_FRACTION = 0.25
BATCH = 200
# Escalated cases are already with the supervisor (or law enforcement); appeals have their own reviewer.
SWEPT_STATES: frozenset[str] = OPEN_CASE_STATES - {"escalated", "appealed"}
ACTOR = "system:sla"

DueState = Literal["overdue", "due_soon", "ok"]


def due_state(case: Case, now: datetime | None = None) -> DueState:
    """`overdue` past the deadline (or flagged), `due_soon` with under 25% of the category's SLA left."""
    now = now or datetime.now(UTC)
    if case.overdue:
        return "overdue"
    if case.due_at is None:
        return "ok"
    left = case.due_at - now
    if left <= timedelta(0):
        return "overdue"
    cat = CATEGORY_BY_CODE.get(case.category)
    total = cat.sla if cat else case.due_at - case.first_reported_at
    return "due_soon" if left < total * DUE_SOON_FRACTION else "ok"


def _escalate(session: Session, case: Case, now: datetime) -> None:
    original = session.get(Organisation, case.org_id) if case.org_id is not None else None
    target = session.get(Organisation, original.supervisor_id) if original and original.supervisor_id else None
    before = case.state
    case.overdue = True
    case.escalated_at = now
    case.state = "escalated"
    case.updated_at = now
    if target is not None:
        case.org_id = target.id
        case.claimed_by = None  # the claimant works for the original org and loses sight of the case
        case.claimed_at = None
    audit.record(session, actor=ACTOR, action="case.sla_escalate", object_type="case", object_id=case.id,
                 summary={"from_state": before, "from_org": original.key if original else None,
                          "to_org": target.key if target else None,
                          "due_at": case.due_at.isoformat() if case.due_at else None,
                          "reassigned": target is not None})
    payload: dict[str, Any] = {
        "case": {"id": case.id, "category": case.category, "state": case.state, "url": case.canonical_url,
                 "platform": case.platform, "due_at": case.due_at.isoformat() if case.due_at else None},
        "reason": "sla_overdue", "from_org": original.key if original else None,
        "to_org": target.key if target else None}
    for org in {o.id: o for o in (target, original) if o is not None}.values():
        webhooks.emit(session, org_id=org.id, event="case.escalated", payload=payload)


def sweep(db: Database, *, now: datetime | None = None) -> int:
    """Escalate every open case past `due_at` that was not escalated yet. Returns how many were escalated."""
    now = now or datetime.now(UTC)
    total = 0
    while True:
        with db.write() as s:
            cases = list(s.execute(
                select(Case).where(Case.state.in_(SWEPT_STATES), Case.due_at.is_not(None), Case.due_at < now,
                                   Case.escalated_at.is_(None))
                .order_by(Case.due_at, Case.id).limit(BATCH)).scalars())
            for case in cases:
                _escalate(s, case, now)
        total += len(cases)
        if len(cases) < BATCH:
            break
    if total:
        log.info("sla_escalated", cases=total)
    return total


def _lock_schedule(session: Session) -> None:
    # SQLite's BEGIN IMMEDIATE already serialises writers across processes; PostgreSQL needs a lock so two
    # servers starting together do not both schedule a sweep.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7411002)"))


def _schedule(session: Session, *, run_after: datetime, include_running: bool) -> bool:
    _lock_schedule(session)
    states = ("queued", "running") if include_running else ("queued",)
    return enqueue_once(session, JOB_KIND, {}, run_after=run_after, states=states)


def ensure_scheduled(db: Database) -> bool:
    """Queue a sweep now unless one is already pending. Call at startup; returns whether one was queued."""
    with db.write() as s:
        return _schedule(s, run_after=datetime.now(UTC), include_running=True)


@handler(JOB_KIND)
def _sweep_job(db: Database, payloads: list[dict[str, Any]]) -> None:
    # Schedule the next run first, so a failing sweep (retried by the queue) never ends the chain.
    with db.write() as s:
        _schedule(s, run_after=datetime.now(UTC) + INTERVAL, include_running=False)
    sweep(db)
