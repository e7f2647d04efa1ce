"""SLA: overdue open cases escalate once to the supervising organisation, with audit and webhooks; scheduling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from qinglang import accounts
from qinglang.cases import sla
from qinglang.jobs import worker
from qinglang.settings import Settings, get_settings
from qinglang.store.db import Database
from qinglang.store.models import AuditEvent, Case, Job, User, WebhookDelivery

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def deployment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("QINGLANG_SECRET_KEY", settings.secret())
    monkeypatch.setenv("QINGLANG_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def _orgs(db: Database, settings: Settings) -> dict[str, int]:
    with db.write() as s:
        def mk(key: str, supervisor: str | None = None, hook: bool = True) -> int:
            return accounts.create_org(
                s, actor="test", key=key, kind="regulator" if supervisor is None else "platform", name_zh=key,
                name_en=key, supervisor=supervisor, webhook_url=f"http://127.0.0.1:9/{key}" if hook else None,
                webhook_secret="hook-secret", secret=settings.secret()).id
        reg = mk("regulator")
        return {"regulator": reg, "plat": mk("plat", "regulator"), "lonely": mk("lonely", None, hook=False)}


def _case(db: Database, *, org_id: int | None, state: str = "routed", due_in: timedelta, category: str = "fraud",
          claimed_by: int | None = None) -> int:
    with db.write() as s:
        c = Case(category=category, state=state, org_id=org_id, due_at=NOW + due_in, claimed_by=claimed_by,
                 first_reported_at=NOW - timedelta(hours=30), canonical_url="https://example.com/p/1")
        s.add(c)
        s.flush()
        return c.id


def _get(db: Database, case_id: int) -> Case:
    with db.read() as s:
        c = s.get(Case, case_id)
        assert c is not None
        s.expunge(c)
        return c


def test_due_state_uses_a_quarter_of_the_category_sla() -> None:
    fraud = Case(category="fraud", due_at=NOW + timedelta(hours=5), overdue=False,
                 first_reported_at=NOW - timedelta(hours=19))  # fraud SLA 24 h: due soon under 6 h
    assert sla.due_state(fraud, NOW) == "due_soon"
    assert sla.due_state(fraud, NOW - timedelta(hours=2)) == "ok"
    assert sla.due_state(fraud, NOW + timedelta(hours=5, seconds=1)) == "overdue"
    rumor = Case(category="rumor", due_at=NOW + timedelta(hours=17), overdue=False, first_reported_at=NOW)
    assert sla.due_state(rumor, NOW) == "due_soon"  # 72 h SLA: under 18 h left
    assert sla.due_state(Case(category="rumor", due_at=None, overdue=False), NOW) == "ok"
    assert sla.due_state(Case(category="rumor", due_at=NOW + timedelta(days=9), overdue=True), NOW) == "overdue"


def test_sweep_escalates_overdue_cases_once(db: Database, deployment: Settings, staff: Any) -> None:
    orgs = _orgs(db, deployment)
    staff.user("agent", "org_agent", org="plat")
    with db.read() as s:
        agent_id = s.execute(select(User.id).where(User.username == "agent")).scalar_one()
    late = _case(db, org_id=orgs["plat"], state="in_progress", due_in=-timedelta(hours=1), claimed_by=agent_id)
    lonely = _case(db, org_id=orgs["lonely"], due_in=-timedelta(minutes=5))
    on_time = _case(db, org_id=orgs["plat"], due_in=timedelta(hours=3))
    decided = _case(db, org_id=orgs["plat"], state="actioned", due_in=-timedelta(days=2))
    appealed = _case(db, org_id=orgs["plat"], state="appealed", due_in=-timedelta(days=2))

    assert sla.sweep(db, now=NOW) == 2

    c = _get(db, late)
    assert (c.state, c.org_id, c.overdue, c.claimed_by) == ("escalated", orgs["regulator"], True, None)
    assert c.escalated_at == NOW
    c = _get(db, lonely)
    assert (c.state, c.org_id, c.overdue) == ("escalated", orgs["lonely"], True)  # no supervisor: flagged, kept
    for untouched, state in ((on_time, "routed"), (decided, "actioned"), (appealed, "appealed")):
        c = _get(db, untouched)
        assert (c.state, c.overdue, c.escalated_at) == (state, False, None)

    with db.read() as s:
        events = s.execute(select(AuditEvent).where(AuditEvent.action == "case.sla_escalate")
                           .order_by(AuditEvent.id)).scalars().all()
        assert [e.object_id for e in events] == [str(late), str(lonely)]
        assert events[0].summary["from_org"] == "plat" and events[0].summary["to_org"] == "regulator"
        assert events[1].summary["reassigned"] is False
        hooks = s.execute(select(WebhookDelivery).order_by(WebhookDelivery.id)).scalars().all()
        # the supervisor and the original org both hear of the escalation; "lonely" has no webhook
        assert sorted((h.org_id, h.event) for h in hooks) == sorted(
            [(orgs["regulator"], "case.escalated"), (orgs["plat"], "case.escalated")])
        assert all(h.signature.startswith("sha256=") for h in hooks)

    assert sla.sweep(db, now=NOW + timedelta(hours=1)) == 0  # never escalated twice
    assert sla.sweep(db, now=NOW + timedelta(hours=4)) == 1  # on_time is now late


def test_schedule_keeps_exactly_one_pending_sweep(db: Database, deployment: Settings) -> None:
    assert sla.ensure_scheduled(db) is True
    assert sla.ensure_scheduled(db) is False

    def sweeps() -> list[Job]:
        with db.read() as s:
            jobs = list(s.execute(select(Job).where(Job.kind == "sla_sweep").order_by(Job.id)).scalars())
            s.expunge_all()
            return jobs

    worker.load_handlers()
    assert worker.run_once(db) == 1
    jobs = sweeps()
    assert [j.status for j in jobs] == ["done", "queued"]
    gap = jobs[1].run_after - datetime.now(UTC)
    assert timedelta(seconds=50) < gap <= sla.INTERVAL
    assert sla.ensure_scheduled(db) is False
    assert worker.run_once(db) == 0  # the next sweep is not due yet


def test_app_startup_schedules_the_sweep(settings: Settings, db: Database, deployment: Settings) -> None:
    from fastapi.testclient import TestClient

    from qinglang.api.app import create_app

    with TestClient(create_app(settings, start_worker=True)):
        with db.read() as s:
            kinds = s.execute(select(Job.kind).where(Job.kind == "sla_sweep")).scalars().all()
    assert len(kinds) >= 1
