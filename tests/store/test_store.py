"""Store tests: run on SQLite and on PostgreSQL (QINGLANG_TEST_POSTGRES_URL)."""

from __future__ import annotations

import fcntl
import os
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text, update

from qinglang import accounts, audit
from qinglang.auth.policy import Principal
from qinglang.debunks import registry
from qinglang.errors import Conflict, Forbidden, Invalid
from qinglang.jobs import queue
from qinglang.store.db import Database
from qinglang.store.models import AuditEvent, Debunk, Job


def _setup(db: Database) -> tuple[Principal, Principal]:
    with db.write() as s:
        accounts.create_org(s, actor="t", key="fc", kind="fact_checker", name_zh="核查", name_en="FC")
        accounts.create_org(s, actor="t", key="med", kind="expert_panel", name_zh="医学", name_en="Med")
        a = accounts.create_user(s, actor="t", username="author", role="expert", org="fc", password="pw-12345678")
        b = accounts.create_user(s, actor="t", username="peer", role="expert", org="med", password="pw-12345678")
        return Principal.of(a, via="cli"), Principal.of(b, via="cli")


def _input(claim: str = "喝醋能杀死新冠病毒") -> registry.DebunkInput:
    return registry.DebunkInput(claim=claim, verdict="false", summary="醋不能杀死病毒", explanation="……",
                                lang="zh", variants=["熏醋防新冠"], sources=[{"url": "https://www.who.int/"}],
                                topics=["health"])


def test_debunk_versions_and_review_workflow(any_db: Database) -> None:
    author, peer = _setup(any_db)
    with any_db.write() as s:
        org_id = accounts.org_by_key(s, "fc").id
        d = registry.create(s, author, _input(), org_id=org_id)
        did = d.id
        registry.edit(s, author, did, _input("熏白醋能杀死新冠病毒"), note="wording")
        registry.submit(s, author, did)
    with any_db.write() as s, pytest.raises(Forbidden):
        registry.review(s, author, did, approve=True)
    with any_db.write() as s:
        d = registry.review(s, peer, did, approve=True)
        assert d.status == "published"
        registry.correct(s, author, did, _input("熏醋不能杀死新冠病毒"), note="fixed the claim text")
    with any_db.read() as s:
        d = registry.get(s, did)
        assert d.status == "corrected" and d.current_version == 3
        assert [v.claim for v in d.versions][0] == "喝醋能杀死新冠病毒"  # the original version is kept
        rows, total = registry.search(s, registry.SearchFilters(q="熏醋", topic="health"))
        assert total == 1 and rows[0].id == did
        # Index updates were queued in the same transactions as the changes.
        kinds = s.execute(select(Job.kind)).scalars().all()
        assert kinds.count("index_debunk") == 2


def test_invalid_debunk_is_rejected_without_writing(any_db: Database) -> None:
    author, _ = _setup(any_db)
    bad = _input()
    bad.verdict = "fake"
    with pytest.raises(Invalid) as exc, any_db.write() as s:
        registry.create(s, author, bad, org_id=1)
    assert exc.value.field == "verdict"
    with any_db.read() as s:
        assert s.execute(select(Debunk)).first() is None


def test_duplicate_org_key_conflicts(any_db: Database) -> None:
    _setup(any_db)
    with pytest.raises(Conflict), any_db.write() as s:
        accounts.create_org(s, actor="t", key="fc", kind="fact_checker", name_zh="x", name_en="x")


def test_audit_chain_detects_edits_and_deletions(any_db: Database) -> None:
    _setup(any_db)
    with any_db.read() as s:
        r = audit.verify(s)
        assert r.ok and r.checked == 4
        ids = s.execute(select(AuditEvent.id).order_by(AuditEvent.id)).scalars().all()
    with any_db.write() as s:
        s.execute(update(AuditEvent).where(AuditEvent.id == ids[1]).values(actor="someone-else"))
    with any_db.read() as s:
        r = audit.verify(s)
        assert not r.ok and r.first_bad_id == ids[1] and "edited" in r.reason
    with any_db.write() as s:
        s.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ids[1]})
    with any_db.read() as s:
        r = audit.verify(s)
        assert not r.ok and r.first_bad_id == ids[2]


def test_audit_summaries_verify_whether_flat_or_not(any_db: Database) -> None:
    """Flat summaries are copied, others go through JSON: both are stored as they read back, so both verify."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    flat = {"case": 7, "why": "new case", "debunk": None, "score": 0.5, "ok": True}
    nested = {"when": when, "ids": (1, 2), "inner": {"k": "v"}}
    with any_db.write() as s:
        audit.record(s, actor="t", action="a", object_type="x", object_id=1, summary=flat)
        batch = audit.Batch(s)
        batch.add(actor="t", action="b", object_type="x", object_id=2, summary=nested)
        batch.add(actor="t", action="c", object_type="x", object_id=3, summary=flat)
        flat["case"] = 8  # before anything is written: the events keep the summary as it was when recorded
        batch.write()
    with any_db.read() as s:
        rows = s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        assert [r.summary for r in rows][-3:] == [
            {"case": 7, "why": "new case", "debunk": None, "score": 0.5, "ok": True},
            {"when": "2026-01-02 03:04:05+00:00", "ids": [1, 2], "inner": {"k": "v"}},
            {"case": 7, "why": "new case", "debunk": None, "score": 0.5, "ok": True}]
        assert audit.verify(s).ok


def test_concurrent_audit_appends_stay_chained(any_db: Database) -> None:
    def work(n: int) -> None:
        for i in range(10):
            with any_db.write() as s:
                audit.record(s, actor=f"t{n}", action="x", object_type="y", object_id=i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with any_db.read() as s:
        r = audit.verify(s)
    assert r.ok and r.checked == 40


def test_job_queue_claims_once_and_retries_with_backoff(any_db: Database) -> None:
    with any_db.write() as s:
        for i in range(5):
            queue.enqueue(s, "demo", {"i": i})
    first = queue.claim(any_db, kinds=("demo",), limit=3)
    second = queue.claim(any_db, kinds=("demo",), limit=10)
    assert len(first) == 3 and len(second) == 2
    assert not {j.id for j in first} & {j.id for j in second}
    assert [(j.kind, j.payload, j.attempts) for j in first] == [("demo", {"i": i}, 1) for i in range(3)]
    with any_db.read() as s:  # marked running in the store, with the attempt counted there too
        assert {(st, n) for st, n in s.execute(select(Job.status, Job.attempts))} == {("running", 1)}
    queue.complete(any_db, [j.id for j in first])
    queue.fail(any_db, second[0], "boom")
    assert queue.claim(any_db, kinds=("demo",)) == []  # the failed one waits for its backoff
    assert queue.pending_count(any_db) == 2


def test_sqlite_writers_of_separate_processes_queue_on_the_lock_file(db: Database) -> None:
    """Two Database objects on one file stand for two processes: the second writer waits for the first's commit."""
    other = Database(db.url)
    holding, release, order = threading.Event(), threading.Event(), []

    def first() -> None:
        with db.write() as s:
            s.execute(text("SELECT 1"))
            holding.set()
            release.wait(5)
            order.append("first committed")

    t = threading.Thread(target=first)
    t.start()
    assert holding.wait(5)
    lock_file = f"{db.engine.url.database}.write-lock"
    fd = os.open(lock_file, os.O_RDWR)
    with pytest.raises(BlockingIOError):  # held by the writer, for any process to see
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)
    done = threading.Event()

    def second() -> None:
        with other.write() as s:
            s.execute(text("SELECT 1"))
            order.append("second wrote")
        done.set()

    t2 = threading.Thread(target=second)
    t2.start()
    assert not done.wait(0.3)  # blocked on the lock file, not failing with "database is locked"
    release.set()
    t.join(5)
    t2.join(5)
    assert order == ["first committed", "second wrote"]
    other.dispose()
