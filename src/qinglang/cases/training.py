"""Labelled examples from the staff's own decisions, so the category model keeps learning from its reviewers.

A case acted on (removed, restricted, labelled, warned, escalated) confirms its category for every report
text in it; a case found to be no violation gives negative examples (no category). Referrals and pending
cases teach nothing yet.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from qinglang.store.models import Case, Decision, Report

CONFIRMING = frozenset({"remove", "restrict", "label", "warn", "escalate_law_enforcement"})


def decided_examples(session: Session) -> list[tuple[tuple[str, ...], str]]:
    """(labels, text) pairs from decided cases; the latest decision on a case counts."""
    latest: dict[int | None, str] = {}
    for case_id, action in session.execute(select(Decision.case_id, Decision.action).order_by(Decision.id)):
        latest[case_id] = action
    out: list[tuple[tuple[str, ...], str]] = []
    if not latest:
        return out
    rows = session.execute(select(Report.case_id, Report.text, Case.category)
                           .join(Case, Case.id == Report.case_id).where(Report.case_id.in_(latest)))
    for rcase_id, text, category in rows:
        if not text or not text.strip():
            continue
        action = latest[rcase_id]
        if action in CONFIRMING:
            out.append(((category,), text))
        elif action == "no_violation":
            out.append(((), text))
    return out
