"""The per-process claim index: built from the store, updated incrementally by jobs, hot-swapped elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from qinglang import accounts
from qinglang.auth.policy import Principal
from qinglang.debunks import registry
from qinglang.jobs.worker import drain
from qinglang.match import store_source
from qinglang.match.store_source import ClaimIndexHolder
from qinglang.store.db import Database
from qinglang.store.models import Job, Organisation


def _publish(db: Database, claim: str, lang: str = "en") -> int:
    with db.write() as s:
        if not s.execute(select(Organisation)).first():
            accounts.create_org(s, actor="t", key="fc", kind="fact_checker", name_zh="核查", name_en="FC")
            accounts.create_user(s, actor="t", username="exp", role="expert", org="fc", password=None)
        exp = Principal.of(accounts.user_by_name(s, "exp"), via="cli")
        data = registry.DebunkInput(claim=claim, verdict="false", summary="not true", explanation="", lang=lang)
        d = registry.create(s, exp, data, org_id=accounts.org_by_key(s, "fc").id, status="published")
        return d.id


def test_publish_and_withdraw_reach_another_process(db: Database, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(store_source, "CHECK_EVERY", 0.0)
    first = _publish(db, "Drinking bleach cures COVID-19")
    worker_side = store_source.holder(db, tmp_path / "index")  # the process that runs the jobs
    other = ClaimIndexHolder(db, tmp_path / "index")  # a second server process sharing the data dir
    assert [h.id for h in other.get().match("bleach cures covid", top_k=1)] == [str(first)]

    second = _publish(db, "5G masts spread the coronavirus")
    drain(db)  # the index_debunk job updates the worker's matcher, saves it and bumps the checkpoint
    assert worker_side.version >= 1
    hits = other.get().match("5G towers are spreading the virus", top_k=1)
    assert hits and hits[0].id == str(second)

    with db.write() as s:
        exp = Principal.of(accounts.user_by_name(s, "exp"), via="cli")
        registry.withdraw(s, exp, second, note="duplicate of another debunk")
    drain(db)
    assert str(second) not in other.get()
    assert str(first) in other.get()


def test_semantic_search_and_match_text(db: Database, tmp_path: Path) -> None:
    store_source.set_index_dir(db, tmp_path / "index")
    did = _publish(db, "微波炉加热的食物会致癌", lang="zh")
    res = store_source.match_text(db, "Food heated in a microwave oven causes cancer", top_k=3)
    assert res and res[0]["debunk_id"] == did and res[0]["debunk"]["claim"] == "微波炉加热的食物会致癌"
    assert store_source.semantic_debunk_ids(db, "microwave cancer", limit=5)[0] == did


def test_debunks_carry_their_publication_date_into_the_index(db: Database, tmp_path: Path) -> None:
    did = _publish(db, "Drinking bleach cures COVID-19")
    holder = ClaimIndexHolder(db, tmp_path / "index")
    doc = holder.get().get(str(did))
    assert doc is not None and doc.published is not None
    # An index saved before debunks carried dates loads without them; the store fills them in, once.
    meta = tmp_path / "index" / "current" / "meta.json"
    docs = tmp_path / "index" / "current" / "docs.jsonl"
    flag, saved = ', "dates": true', f'"published": "{doc.published.isoformat()}"'
    assert flag in meta.read_text() and saved in docs.read_text()
    meta.write_text(meta.read_text().replace(flag, ""))
    docs.write_text(docs.read_text().replace(saved, '"published": null'))
    again = ClaimIndexHolder(db, tmp_path / "index").get()
    assert again.dates_saved and again.get(str(did)) == doc
    assert again.match("bleach cures covid", date=doc.published)[0].id == str(did)


def test_an_index_left_by_another_database_is_not_loaded(db: Database, tmp_path: Path) -> None:
    import json

    from qinglang.store.migrate import upgrade

    shared = tmp_path / "shared-index"  # one data directory, two databases (a restored backup, a new database)
    _publish(db, "Drinking bleach cures COVID-19")
    assert len(ClaimIndexHolder(db, shared).get()) == 1  # built at checkpoint version 0 and saved
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    upgrade(f"sqlite:///{other_dir / 'q.db'}")
    other = Database(f"sqlite:///{other_dir / 'q.db'}")
    try:
        fresh = ClaimIndexHolder(other, shared).get()  # also version 0, but not this database's index
        assert len(fresh) == 0 and fresh.match("bleach cures covid", top_k=1) == []
        checkpoint = json.loads((shared / "current" / "checkpoint.json").read_text())
        assert checkpoint == {"version": 0, "database": store_source.database_identity(other)}
        assert store_source.database_identity(other) != store_source.database_identity(db)
        # An index saved before checkpoints named their database, at version 0, is rebuilt too.
        (shared / "current" / "checkpoint.json").write_text(json.dumps({"version": 0}))
        assert len(ClaimIndexHolder(db, shared).get()) == 1
    finally:
        other.dispose()


def test_other_processes_catch_up_debunk_by_debunk(any_db: Database, tmp_path: Path, monkeypatch: Any) -> None:
    """A change reaches a process that holds the index by the changed debunks alone: its matcher is updated in
    place, never loaded again from the saved files (half a minute at 1M debunks)."""
    monkeypatch.setattr(store_source, "CHECK_EVERY", 0.0)
    first = _publish(any_db, "Drinking bleach cures COVID-19")
    worker_side = store_source.holder(any_db, tmp_path / "index")
    other = ClaimIndexHolder(any_db, tmp_path / "index")
    held = other.get()

    def no_reload(current: int) -> None:
        raise AssertionError("the whole index was loaded again")

    monkeypatch.setattr(other, "_refresh", no_reload)
    second = _publish(any_db, "5G masts spread the coronavirus")
    drain(any_db)
    assert other.get() is held and other.version == worker_side.version >= 1
    assert [h.id for h in held.match("5G towers are spreading the virus", top_k=1)] == [str(second)]
    from prometheus_client import REGISTRY

    # The last sync in this process was `other`'s: /metrics shows its checkpoint, debunks and uncompacted rows.
    assert REGISTRY.get_sample_value("qinglang_claim_index_checkpoint") == other.version
    assert REGISTRY.get_sample_value("qinglang_claim_index_debunks") == 2
    assert REGISTRY.get_sample_value("qinglang_claim_index_delta_rows") == held.delta_rows
    with any_db.write() as s:
        exp = Principal.of(accounts.user_by_name(s, "exp"), via="cli")
        registry.withdraw(s, exp, second, note="duplicate of another debunk")
    drain(any_db)
    assert other.get() is held and str(second) not in held and str(first) in held


def test_a_new_process_loads_the_saved_index_and_catches_up(any_db: Database, tmp_path: Path, monkeypatch: Any) -> None:
    """Saves are spaced out (one at 1M debunks takes over a minute): a change shortly after a save is saved by a
    later job, and a process starting meanwhile loads the older save and applies what changed since."""
    import json

    monkeypatch.setattr(store_source, "CHECK_EVERY", 0.0)
    _publish(any_db, "Drinking bleach cures COVID-19")
    store_source.holder(any_db, tmp_path / "index")
    drain(any_db)  # the first change is saved at once
    checkpoint = tmp_path / "index" / "current" / "checkpoint.json"
    saved = json.loads(checkpoint.read_text())["version"]
    second = _publish(any_db, "5G masts spread the coronavirus")
    drain(any_db)
    with any_db.read() as s:
        current = store_source._db_version(s)
        later = s.execute(select(Job).where(Job.kind == store_source.SAVE_JOB, Job.status == "queued")).scalars().all()
    assert current == saved + 1 and json.loads(checkpoint.read_text())["version"] == saved
    assert len(later) == 1 and later[0].run_after.replace(tzinfo=UTC) > datetime.now(UTC)
    fresh = ClaimIndexHolder(any_db, tmp_path / "index")

    def no_rebuild(version: int | None = None) -> None:
        raise AssertionError("rebuilt from the store")

    monkeypatch.setattr(fresh, "rebuild", no_rebuild)
    assert [h.id for h in fresh.get().match("5G towers are spreading the virus", top_k=1)] == [str(second)]
    assert fresh.version == current
    store_source.save_claim_index_job(any_db, [{}])  # the queued save, run early
    assert json.loads(checkpoint.read_text())["version"] == current


def test_a_growing_delta_is_compacted_in_the_background_and_requests_do_not_wait_for_it(
        db: Database, tmp_path: Path, monkeypatch: Any) -> None:
    import threading

    monkeypatch.setattr(store_source, "CHECK_EVERY", 0.0)
    monkeypatch.setattr(store_source, "DELTA_COMPACT", 1)
    _publish(db, "Drinking bleach cures COVID-19")
    store_source.holder(db, tmp_path / "index")
    drain(db)
    other = ClaimIndexHolder(db, tmp_path / "index")
    held = other.get()
    compactions = []
    compact = held.compact
    monkeypatch.setattr(held, "compact", lambda: (compactions.append(held.delta_rows), compact()))
    second = _publish(db, "5G masts spread the coronavirus")
    third = _publish(db, "Eating raw garlic every hour makes you immune to the flu")
    drain(db)
    assert other.get() is held  # caught up; the compaction starts behind the request
    assert other._compacting is not None
    other._compacting.join(timeout=60)
    assert len(compactions) == 1 and compactions[0] > 1
    assert held.delta_rows == 0 and str(second) in held and str(third) in held
    assert held.match("garlic every hour prevents flu", top_k=1)[0].id == str(third)

    release = threading.Event()
    other._compacting = threading.Thread(target=release.wait, daemon=True)  # a compaction still running
    other._compacting.start()
    before = other.version
    fourth = _publish(db, "Bananas imported this month carry a flesh-eating virus")
    drain(db)
    assert other.get() is held and other.version == before and str(fourth) not in held  # served as it is
    release.set()
    other._compacting.join(timeout=5)
    assert str(fourth) in other.get() and other.version > before


def test_far_behind_a_process_loads_a_fresher_save_and_otherwise_catches_up_in_place(
        db: Database, tmp_path: Path, monkeypatch: Any) -> None:
    """Far behind, the work takes seconds at 1M debunks (a load, or many debunks embedded again): it runs in a
    background thread, and requests meanwhile get the matcher as it is, even while that thread holds the holder."""
    import threading

    monkeypatch.setattr(store_source, "CHECK_EVERY", 0.0)
    monkeypatch.setattr(store_source, "CATCH_UP_MIN", 0)  # every change counts as far behind
    _publish(db, "Drinking bleach cures COVID-19")
    store_source.holder(db, tmp_path / "index")
    drain(db)
    other = ClaimIndexHolder(db, tmp_path / "index")
    held = other.get()
    before = other.version
    second = _publish(db, "5G masts spread the coronavirus")
    drain(db)  # saved later by a job: the save is no fresher than `other`
    gate = threading.Event()
    upsert = held.upsert
    monkeypatch.setattr(held, "upsert", lambda docs, **kw: (gate.wait(30), upsert(docs, **kw))[1])
    assert other.get() is held and other.version == before  # served as it is; the catch-up runs behind it
    assert other._syncing is not None and other._syncing.is_alive()
    gate.set()
    other._syncing.join(timeout=60)
    assert other.get() is held and str(second) in held and other.version > before  # caught up in place

    third = _publish(db, "Eating raw garlic every hour makes you immune to the flu")
    drain(db)
    store_source.save_claim_index_job(db, [{}])  # now the save is at the newest checkpoint
    gate = threading.Event()
    load = store_source.Matcher.load
    monkeypatch.setattr(store_source.Matcher, "load", lambda path, **kw: (gate.wait(30), load(path, **kw))[1])
    assert other.get() is held and str(third) not in held
    syncing = other._syncing
    assert syncing is not None and syncing.is_alive()
    for _ in range(50):  # the background thread holds the holder while it loads: requests still get an answer
        if other._lock.locked():
            break
        syncing.join(timeout=0.01)
    assert other._lock.locked() and other.get() is held and other._syncing is syncing
    gate.set()
    syncing.join(timeout=60)
    fresh = other.get()
    assert fresh is not held and str(third) in fresh and str(second) in fresh


def test_concurrent_appliers_keep_checkpoints_in_order_and_saves_intact(
        any_db: Database, tmp_path: Path, monkeypatch: Any) -> None:
    """Two workers apply changes at the same time (each saving every change into the same data directory) while a
    third process keeps catching up: no change is skipped, the checkpoints are one per change, and the save left is
    the newest, whole."""
    import json
    import threading

    monkeypatch.setattr(store_source, "CHECK_EVERY", 0.0)
    monkeypatch.setattr(store_source, "SAVE_EVERY", 0.0)  # every apply saves: the saves race too
    _publish(any_db, "Drinking bleach cures COVID-19")
    index = tmp_path / "index"
    workers = [ClaimIndexHolder(any_db, index), ClaimIndexHolder(any_db, index)]
    other = ClaimIndexHolder(any_db, index)
    other.get()
    claims = [f"Rumour number {i}: the {w} in the tap water is poisonous" for i, w in
              enumerate(("fluoride", "chlorine", "lead", "copper", "iron", "zinc", "nitrate", "arsenic"))]
    ids = [_publish(any_db, c) for c in claims]
    done = threading.Event()
    errors: list[BaseException] = []

    def apply(w: ClaimIndexHolder, mine: list[int]) -> None:
        try:
            for did in mine:
                w.apply([did])
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    def poll() -> None:
        while not done.is_set():
            other.get()

    threads = [threading.Thread(target=apply, args=(w, ids[k::2])) for k, w in enumerate(workers)]
    poller = threading.Thread(target=poll)
    poller.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    poller.join(timeout=60)
    assert not errors
    with any_db.read() as s:
        current = store_source._db_version(s)
    assert current == len(ids)  # one checkpoint per change
    m = other.get()
    if other._syncing is not None:
        other._syncing.join(timeout=60)
        m = other.get()
    assert other.version == current and all(str(i) in m for i in ids)
    assert json.loads((index / "current" / "checkpoint.json").read_text())["version"] == current
    assert sorted(p.name for p in index.iterdir()) == ["current", "save.lock"]
    fresh = ClaimIndexHolder(any_db, index)
    monkeypatch.setattr(fresh, "rebuild", lambda version=None: (_ for _ in ()).throw(AssertionError("rebuilt")))
    assert all(str(i) in fresh.get() for i in ids) and fresh.version == current


def test_a_save_removes_what_dead_saves_left(db: Database, tmp_path: Path) -> None:
    import os
    import time

    _publish(db, "Drinking bleach cures COVID-19")
    index = tmp_path / "index"
    index.mkdir()
    dead, running = index / "tmp-4242-7-deadbeef", index / "tmp-4343-8-cafebabe"
    for p in (dead, running):
        p.mkdir()
        (p / "vectors.bin").write_bytes(b"\0" * 1024)
    hour_ago = time.time() - store_source.ABANDONED_AFTER - 60
    os.utime(dead, (hour_ago, hour_ago))
    ClaimIndexHolder(db, index).get()  # no save yet: built and saved
    assert not dead.exists() and running.exists() and (index / "current" / "checkpoint.json").is_file()


def test_the_demo_leaves_a_saved_index_nothing_is_behind(db: Database, settings: Any) -> None:
    from qinglang.demo import load_demo

    load_demo(db, settings)
    st = store_source.index_status(db, settings.data_dir / "index")
    assert st["published_debunks"] > 0 and st["saved"] is not None
    assert st["saved"]["checkpoint"] == st["checkpoint"] and st["saved"]["changed_since"] == 0
    assert st["saved"]["debunks"] == st["published_debunks"]
