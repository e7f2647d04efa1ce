"""The durable job queue in the database.

`enqueue` runs inside the caller's transaction, so a job exists exactly when the data it concerns was
committed; a crash never loses a queued job. Workers claim due jobs, run them, and mark them done, or
reschedule with exponential backoff up to `MAX_ATTEMPTS`. Jobs left `running` by a killed process are
picked up again after `STALE_AFTER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from qinglang.store.db import Database
from qinglang.store.models import Job

MAX_ATTEMPTS = 6
STALE_AFTER = timedelta(minutes=5)


def enqueue(session: Session, kind: str, payload: dict[str, Any] | None = None, *,
            run_after: datetime | None = None) -> Job:
    job = Job(kind=kind, payload=payload or {}, status="queued", run_after=run_after or datetime.now(UTC))
    session.add(job)
    return job


def enqueue_once(session: Session, kind: str, payload: dict[str, Any] | None = None, *,
                 run_after: datetime | None = None, states: tuple[str, ...] = ("queued",)) -> bool:
    """`enqueue` unless a job of ``kind`` is already in one of ``states`` (a job that schedules itself, or one run
    that serves every request made before it); whether it was queued. Callers on PostgreSQL that may race take a
    lock first."""
    pending = session.execute(select(func.count()).select_from(Job)
                              .where(Job.kind == kind, Job.status.in_(states))).scalar_one()
    if pending:
        return False
    enqueue(session, kind, payload, run_after=run_after)
    return True


@dataclass(frozen=True)
class Claimed:
    """A job taken by `claim`: what a worker needs to run it and report back."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def claim(db: Database, *, kinds: tuple[str, ...] | None = None, limit: int = 50) -> list[Claimed]:
    """Atomically take up to `limit` due jobs (oldest first), marking them running. One query reads them and one
    statement marks them (a round of a thousand report jobs as ORM objects cost the worker more CPU than the round's
    job bookkeeping is worth)."""
    now = datetime.now(UTC)
    with db.write() as s:
        q = (select(Job.id, Job.kind, Job.payload, Job.attempts)
             .where(or_(Job.status == "queued", (Job.status == "running") & (Job.locked_at < now - STALE_AFTER)))
             .where(Job.run_after <= now).order_by(Job.id).limit(limit))
        if kinds:
            q = q.where(Job.kind.in_(kinds))
        if not db.is_sqlite:
            q = q.with_for_update(skip_locked=True)
        jobs = [Claimed(int(i), kind, payload or {}, int(n) + 1) for i, kind, payload, n in s.execute(q)]
        if jobs:
            s.execute(update(Job).where(Job.id.in_([j.id for j in jobs]))
                      .values(status="running", locked_at=now, attempts=Job.attempts + 1))
        return jobs


def requeue_orphans(db: Database, *, locked_before: datetime) -> int:
    """Put back jobs a killed process left `running` (locked before this process started), so a restart
    resumes them at once instead of after `STALE_AFTER`. Jobs are idempotent; delivery is at least once."""
    with db.write() as s:
        res = s.execute(update(Job).where(Job.status == "running", Job.locked_at < locked_before)
                        .values(status="queued", locked_at=None))
        return int(res.rowcount or 0)  # type: ignore[attr-defined]


def complete(db: Database, job_ids: list[int]) -> None:
    if not job_ids:
        return
    with db.write() as s:
        s.execute(update(Job).where(Job.id.in_(job_ids))
                  .values(status="done", finished_at=datetime.now(UTC), error=None))


def fail(db: Database, job: Claimed | Job, error: str) -> None:
    with db.write() as s:
        j = s.get(Job, job.id)
        if j is None:
            return
        j.error = error[:2000]
        if j.attempts >= MAX_ATTEMPTS:
            j.status = "failed"
            j.finished_at = datetime.now(UTC)
        else:
            j.status = "queued"
            j.run_after = datetime.now(UTC) + timedelta(seconds=2 ** j.attempts)


def pending_count(db: Database) -> int:
    from sqlalchemy import func

    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(Job)
                             .where(Job.status.in_(("queued", "running")))).scalar_one())


def backlog(db: Database) -> dict[str, Any]:
    """What the workers have yet to do: due jobs, how long the oldest has waited, and jobs running now (an
    operator's check that a worker is alive: a growing oldest wait with nothing running means none is)."""
    now = datetime.now(UTC)
    with db.read() as s:
        due, oldest = s.execute(select(func.count(), func.min(Job.run_after))
                                .where(Job.status == "queued", Job.run_after <= now)).one()
        running = s.execute(select(func.count()).where(Job.status == "running")).scalar() or 0
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return {"due": int(due), "oldest_due_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0.0,
            "running": int(running)}
