"""Public transparency statistics: reports per category per month, decision outcomes, time to decision, appeals.

Everything is counted with SQL over Report, Case, Decision and Appeal; medians are taken in Python so the same
code runs on SQLite and PostgreSQL. Never return identifiers, texts or contact data: only counts and durations.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qinglang.store.models import Appeal, Case, Decision, Report
from qinglang.taxonomy import ACTION_CODES, CATEGORY_CODES


def _month_starts(now: datetime, months: int) -> list[datetime]:
    out = []
    y, m = now.year, now.month
    for _ in range(months):
        out.append(datetime(y, m, 1, tzinfo=UTC))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return list(reversed(out))


def _median_hours(durations: list[float]) -> float | None:
    return round(statistics.median(durations) / 3600, 1) if durations else None


def transparency(session: Session, *, months: int = 12, now: datetime | None = None) -> dict[str, Any]:
    """Counts for the public transparency page and `GET /v1/stats/transparency`."""
    now = now or datetime.now(UTC)
    starts = _month_starts(now, months)
    since = starts[0]
    labels = [s.strftime("%Y-%m") for s in starts]

    # Reports per category per month: fetch (created_at, category) and bucket in Python (portable date maths).
    per_month: dict[str, dict[str, int]] = {lab: dict.fromkeys(CATEGORY_CODES, 0) for lab in labels}
    rows = session.execute(select(Report.created_at, Report.category).where(Report.created_at >= since))
    for created, cat in rows:
        lab = created.strftime("%Y-%m")
        if lab in per_month and cat in per_month[lab]:
            per_month[lab][cat] += 1
    totals_by_cat = dict(session.execute(select(Report.category, func.count()).group_by(Report.category)).all())

    outcomes = dict(session.execute(select(Decision.action, func.count()).group_by(Decision.action)).all())
    decisions_total = sum(outcomes.values())
    automated = session.execute(select(func.count()).select_from(Decision)
                                .where(Decision.automated_decision.is_(True))).scalar_one()

    # Time to decision: from the case's first report to its first decision.
    first_decision = (select(Decision.case_id, func.min(Decision.created_at).label("at"))
                      .group_by(Decision.case_id).subquery())
    durations: dict[str, list[float]] = {}
    for cat, first, decided in session.execute(
            select(Case.category, Case.first_reported_at, first_decision.c.at)
            .join(first_decision, first_decision.c.case_id == Case.id)):
        decided_at = decided if decided.tzinfo else decided.replace(tzinfo=UTC)
        durations.setdefault(cat, []).append(max(0.0, (decided_at - first).total_seconds()))
    all_durations = [d for ds in durations.values() for d in ds]

    appeal_rows = session.execute(select(Appeal.status, Appeal.outcome, func.count())
                                  .group_by(Appeal.status, Appeal.outcome)).all()
    appeals = {"total": 0, "pending": 0, "upheld": 0, "reversed": 0}
    for status, outcome, n in appeal_rows:
        appeals["total"] += n
        if outcome in ("upheld", "reversed"):
            appeals[outcome] += n
        elif status == "pending" or outcome is None:
            appeals["pending"] += n

    return {
        "generated_at": now.isoformat(),
        "months": labels,
        "reports_per_month": [{"month": lab, "by_category": per_month[lab], "total": sum(per_month[lab].values())}
                              for lab in labels],
        "reports_total": int(sum(totals_by_cat.values())),
        "reports_by_category": {c: int(totals_by_cat.get(c, 0)) for c in CATEGORY_CODES},
        "cases_total": int(session.execute(select(func.count()).select_from(Case)).scalar_one()),
        "outcomes": {a: int(outcomes.get(a, 0)) for a in ACTION_CODES},
        "decisions_total": int(decisions_total),
        "automated_decisions": int(automated),
        "median_hours_to_decision": _median_hours(all_durations),
        "median_hours_by_category": {c: _median_hours(durations.get(c, [])) for c in CATEGORY_CODES},
        "decided_cases": len(all_durations),
        "appeals": appeals,
    }
