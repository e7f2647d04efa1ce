"""Sample reports for the demo, pushed through the real intake, pipeline, decision and appeal code.

Times are then moved back by each sample's `days_ago`, so statistics and SLA views look like a lived-in system.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from qinglang.auth.policy import Principal
from qinglang.cases import intake, pipeline, workflow
from qinglang.settings import Settings
from qinglang.store.db import Database
from qinglang.store.models import Appeal, Case, Debunk, Decision, Meta, Organisation, Report, User
from qinglang.taxonomy import CATEGORY_BY_CODE


def load(db: Database, settings: Settings, samples: list[dict[str, Any]], *, now: datetime) -> int:
    with db.read() as s:
        if s.get(Meta, "demo_reports_loaded") is not None:
            return 0
    ids: list[tuple[int, dict[str, Any]]] = []
    writer = intake.writer_for(db)
    for i, sample in enumerate(samples):
        data = intake.ReportInput(category=sample["category"], url=sample.get("url"), text=sample.get("text", ""),
                                  description=sample.get("description", ""), contact=sample.get("contact"),
                                  platform=sample.get("platform"))
        report = writer.submit(intake.prepare(data, settings, client_key=f"demo-reporter-{i}"))
        assert report.id is not None
        created = now - timedelta(days=int(sample.get("days_ago", 0)), hours=i)
        with db.write() as s:
            s.execute(update(Report).where(Report.id == report.id).values(created_at=created))
        ids.append((report.id, sample))
    pipeline.process_reports(db, [rid for rid, _ in ids])
    with db.write() as s:  # cases start when their first report came in
        for case in s.execute(select(Case)).scalars():
            first = min(r.created_at for r in s.execute(select(Report).where(Report.case_id == case.id)).scalars())
            case.first_reported_at = case.created_at = first
            case.due_at = first + CATEGORY_BY_CODE[case.category].sla
    decided: set[int] = set()
    for rid, sample in ids:
        dec = sample.get("decision")
        if not dec:
            continue
        with db.read() as s:
            case_id = s.execute(select(Report.case_id).where(Report.id == rid)).scalar()
            found = s.get(Case, case_id) if case_id is not None else None
            if found is None or found.id in decided:
                continue
            case = found
            agent = _agent_for(s, case.org_id)
            # A label names its debunk when the matcher only suggested it (band `possible`), as an agent picks it
            debunk = (s.execute(select(Debunk.id).where(Debunk.key == dec["debunk"])).scalar_one()
                      if dec.get("debunk") else None)
        d, token = workflow.decide(db, agent, case.id, action=dec["action"], ground=dec["ground"],
                                   facts=dec["facts"], automated_detection=bool(dec.get("automated_detection")),
                                   refer_to=dec.get("refer_to"), debunk_id=debunk)
        decided.add(case.id)
        when = now - timedelta(days=int(dec.get("decided_days_ago", 0)))
        with db.write() as s:
            s.execute(update(Decision).where(Decision.id == d.id).values(created_at=when))
            s.execute(update(Case).where(Case.id == case.id).values(decided_at=when))
        ap = sample.get("appeal")
        if ap and token:
            a = workflow.appeal(db, settings, token, statement=ap["statement"])
            with db.read() as s:
                reviewer = s.execute(select(User).where(User.role == "reviewer").order_by(User.id)).scalars().first()
            if reviewer is not None and ap.get("outcome") in ("upheld", "reversed"):
                workflow.decide_appeal(db, Principal.of(reviewer, via="cli"), a.id, outcome=ap["outcome"],
                                       reasons=ap.get("reasons") or "Reviewed the post and the original reasons "
                                                                   "against the platform rules.")
                with db.write() as s:
                    s.execute(update(Appeal).where(Appeal.id == a.id)
                              .values(created_at=when + timedelta(hours=6), decided_at=when + timedelta(days=1)))
    with db.write() as s:
        s.merge(Meta(key="demo_reports_loaded", value=now.isoformat()))
    return len(ids)


def _agent_for(session: Any, org_id: int | None) -> Principal:
    user = None
    if org_id is not None:
        user = session.execute(select(User).where(User.org_id == org_id, User.role == "org_agent")
                               .order_by(User.id)).scalars().first()
    if user is None:  # the regulator's triage queue is worked by reviewers
        user = session.execute(select(User).where(User.role == "reviewer").order_by(User.id)).scalars().first()
    org = session.get(Organisation, org_id) if org_id else None
    return Principal.of(user, via="cli", org_id=org.id if org else None)
