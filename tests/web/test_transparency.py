"""Transparency statistics counted with SQL over real rows, and the JSON route that serves them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from qinglang.stats.transparency import transparency
from qinglang.store.db import Database
from qinglang.store.models import Appeal, Case, Decision, Report

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def _seed(db: Database) -> None:
    with db.write() as s:
        def report(i: int, category: str, at: datetime, case: Case | None = None) -> None:
            s.add(Report(receipt=f"R{i:04d}", category=category, reporter_key=f"k{i}", created_at=at,
                         case_id=case.id if case else None))

        decided = []
        for i, (hours, action) in enumerate([(2, "remove"), (10, "label"), (30, "remove")]):
            c = Case(category="fraud", first_reported_at=NOW - timedelta(days=3))
            s.add(c)
            s.flush()
            report(i, "fraud", NOW - timedelta(days=3), c)
            d = Decision(case_id=c.id, action=action, ground="law 1", facts="facts here",
                         created_at=NOW - timedelta(days=3) + timedelta(hours=hours),
                         automated_decision=action == "label")
            s.add(d)
            s.flush()
            decided.append(d)
        # A later second decision on the first case must not change its time to decision.
        s.add(Decision(case_id=decided[0].case_id, action="restrict", ground="g", facts="f",
                       created_at=NOW))
        report(10, "rumor", NOW - timedelta(days=40))          # previous month
        report(11, "rumor", NOW - timedelta(days=1))
        report(12, "rumor", NOW - timedelta(days=400))         # outside the 12-month window, still in totals
        s.add(Appeal(decision_id=decided[0].id, case_id=decided[0].case_id, statement="x", status="decided",
                     outcome="reversed"))
        s.add(Appeal(decision_id=decided[1].id, case_id=decided[1].case_id, statement="y", status="pending"))


def test_counts_medians_and_appeals(db: Database) -> None:
    _seed(db)
    with db.read() as s:
        t = transparency(s, now=NOW)
    assert t["months"][-1] == "2026-06" and len(t["months"]) == 12
    june = t["reports_per_month"][-1]
    assert june["by_category"]["fraud"] == 3 and june["by_category"]["rumor"] == 1 and june["total"] == 4
    assert t["reports_per_month"][-2]["by_category"]["rumor"] == 1
    assert sum(m["total"] for m in t["reports_per_month"]) == 5
    assert t["reports_total"] == 6 and t["reports_by_category"]["rumor"] == 3
    assert t["outcomes"]["remove"] == 2 and t["outcomes"]["label"] == 1 and t["outcomes"]["restrict"] == 1
    assert t["decisions_total"] == 4 and t["automated_decisions"] == 1
    assert t["decided_cases"] == 3
    assert t["median_hours_to_decision"] == 10.0
    assert t["median_hours_by_category"]["fraud"] == 10.0 and t["median_hours_by_category"]["rumor"] is None
    assert t["appeals"] == {"total": 2, "pending": 1, "upheld": 0, "reversed": 1}


def test_empty_database_has_no_fake_numbers(db: Database) -> None:
    with db.read() as s:
        t = transparency(s)
    assert t["reports_total"] == 0 and t["decisions_total"] == 0
    assert t["median_hours_to_decision"] is None


def test_json_route(db: Database, client: Any) -> None:
    _seed(db)
    body = client.get("/v1/stats/transparency").json()
    assert body["decisions_total"] == 4 and body["appeals"]["reversed"] == 1
    assert client.get("/v1/stats/transparency?months=0").status_code == 422
    page = client.get("/transparency?lang=en")
    assert page.status_code == 200 and "Reports per month" in page.text and "<rect" in page.text
