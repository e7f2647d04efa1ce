"""The claim index of published debunks, held in memory in every server process (as in Meta's HMA).

The store is the system of record. An `index_debunk` job bumps the `claim_index_version` checkpoint in the
database and marks the debunks it changes with the new checkpoint (`Debunk.index_version`). Every process brings
its own matcher up to the checkpoint the same way: it reads the debunks marked above its own checkpoint and upserts
or removes them, instead of loading the whole saved index again with the old matcher still in memory meanwhile
(`benchmarks/bench_match.py`, session 21: publishing one debunk into a matcher took 7-12 ms at 10k-100k debunks
and 36 ms at 1M; loading the saved index 2.6 s at 100k and 24 s at 1M). The index is saved to DATA_DIR/index/ for
fast start-up, at most every SAVE_EVERY seconds (saving took 7 s at 100k, 78 s at 1M); a process starting from a
saved index catches up from its checkpoint. Never rebuilds on the request path except the very first time a
process has no usable saved index.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from qinglang.debunks import registry
from qinglang.jobs.queue import enqueue_once
from qinglang.jobs.worker import handler
from qinglang.match.matcher import Matcher
from qinglang.match.types import ClaimDoc, MatchHit
from qinglang.observability import INDEX_CHECKPOINT, INDEX_DEBUNKS, INDEX_DELTA_ROWS
from qinglang.settings import get_settings
from qinglang.store.db import Database
from qinglang.store.models import Debunk, Meta
from qinglang.taxonomy import PUBLIC_DEBUNK_STATES

log = structlog.get_logger("qinglang.match")
VERSION_KEY = "claim_index_version"
DATABASE_KEY = "database_id"  # a random identity of the database, written into every saved index's checkpoint
CHECK_EVERY = 1.0  # seconds between checkpoint polls per process
SAVE_EVERY = 30.0  # seconds: an index change is saved at once if the last save is older, else by a later job
SAVE_JOB = "save_claim_index"
# A process whose matcher is behind by more debunks than this share of it (at least CATCH_UP_MIN) loads the saved
# index and catches up from there instead: upserting a debunk embeds its texts, loading costs about as much as
# embedding one in a hundred of them.
CATCH_UP_SHARE = 0.01
CATCH_UP_MIN = 50
# Rows a caught-up matcher may hold outside its compacted lexical index before a background thread compacts it:
# every query scores the delta's rows that share a term with it (at 100k debunks a full delta added 0.1 ms to a
# query's 1.1 ms of matching, `benchmarks/bench_index_sync.py`), and the delta's copy-on-change costs each upsert.
DELTA_COMPACT = 1000


def claim_doc(d: Debunk) -> ClaimDoc:
    v = registry.current(d)
    return ClaimDoc(id=str(d.id), claim=v.claim, variants=tuple(v.variants), title=v.summary, lang=d.lang,
                    published=d.published_at.date() if d.published_at else None)


def _published(session: Session, ids: list[int] | None = None) -> list[Debunk]:
    q = select(Debunk).options(selectinload(Debunk.versions)).where(Debunk.status.in_(PUBLIC_DEBUNK_STATES))
    if ids is not None:
        q = q.where(Debunk.id.in_(ids))
    return list(session.execute(q).scalars())


def _db_version(session: Session) -> int:
    row = session.get(Meta, VERSION_KEY)
    return int(row.value) if row else 0


def database_checkpoint(db: Database) -> int:
    """The database's claim index checkpoint (what every process's index catches up to)."""
    with db.read() as s:
        return _db_version(s)


def _db_identity(session: Session) -> str | None:
    row = session.get(Meta, DATABASE_KEY)
    return row.value if row else None


def database_identity(db: Database) -> str:
    """The database's random identity, created on first use: a saved index carries it, so an index directory
    left by another database (a test run, a restored backup, a new database on the same data directory) is
    never taken for this one's, even when their checkpoint versions agree."""
    return _meta_value(db, DATABASE_KEY, lambda: secrets.token_hex(16))


def _meta_value(db: Database, key: str, initial: Callable[[], str]) -> str:
    """A `meta` row's value, the row created with ``initial()`` by whichever process needs it first."""
    with db.read() as s:
        row = s.get(Meta, key)
        if row is not None:
            return row.value
    try:
        with db.write() as s:
            row = s.get(Meta, key)
            value = row.value if row is not None else initial()
            if row is None:
                s.add(Meta(key=key, value=value))
        return value
    except IntegrityError:  # another process created it first (PostgreSQL: no single write lock)
        with db.read() as s:
            row = s.get(Meta, key)
            assert row is not None
            return row.value


class ClaimIndexHolder:
    """This process's matcher plus the checkpoint it reflects."""

    def __init__(self, db: Database, index_dir: Path) -> None:
        self.db = db
        self.index_dir = index_dir
        self.matcher: Matcher | None = None
        self.version = -1
        self._checked = 0.0
        self._saved_at = 0.0  # monotonic time of this process's last save
        self._saved_version = -1  # and the checkpoint it saved
        self._compacting: threading.Thread | None = None
        self._syncing: threading.Thread | None = None  # see `_in_background`
        self._lock = threading.Lock()

    def get(self) -> Matcher:
        """This process's matcher, brought up to the newest checkpoint (looked up at most every CHECK_EVERY
        seconds). A request never waits for long work on it: while another thread holds the holder (a catch-up, a
        load in the background, the worker applying a change), the matcher is served as it is."""
        m = self.matcher
        if m is not None and time.monotonic() - self._checked < CHECK_EVERY:
            return m
        if m is None:
            self._lock.acquire()  # nothing to serve yet: wait for the first matcher
        elif not self._lock.acquire(blocking=False):
            return m
        try:
            self._checked = time.monotonic()
            self._sync(self._db_checkpoint(), wait=False)
            assert self.matcher is not None
            return self.matcher
        finally:
            self._lock.release()

    def state(self) -> dict[str, Any]:
        """This process's index as a readiness probe reports it, without bringing it up to date: its checkpoint and
        debunks, the database's checkpoint, and whether a background sync or compaction is running."""
        m = self.matcher
        return {"checkpoint": self.version if m is not None else None, "database_checkpoint": self._db_checkpoint(),
                "debunks": len(m) if m is not None else None, "syncing": _alive(self._syncing),
                "compacting": _alive(self._compacting)}

    def _db_checkpoint(self) -> int:
        return database_checkpoint(self.db)

    def _sync(self, current: int, *, wait: bool = True) -> None:
        """Bring this process's matcher to checkpoint ``current`` (caller holds the lock). ``wait=False`` (a
        request): while the matcher's compaction or a background sync runs, it is served as it is, a little behind,
        and work that takes seconds (loading the saved index, catching up far behind, a restored database) is
        handed to a background thread (`_in_background`). The process's index gauges follow (`/metrics`)."""
        try:
            self._sync_to(current, wait=wait)
        finally:
            if self.matcher is not None:
                INDEX_CHECKPOINT.set(self.version)
                INDEX_DEBUNKS.set(len(self.matcher))
                INDEX_DELTA_ROWS.set(self.matcher.delta_rows)

    def _sync_to(self, current: int, *, wait: bool) -> None:
        if self.matcher is None:
            self._refresh(current)
        elif current != self.version:
            if not wait and (_alive(self._compacting) or _alive(self._syncing)):
                return
            if current < self.version:  # the database went back (a restore)
                if wait:
                    self._refresh(current)
                else:
                    self._in_background()
                return
            self._catch_up(current, background=not wait)
            if self.matcher.delta_rows > DELTA_COMPACT and not _alive(self._compacting):
                self._compacting = threading.Thread(target=self.matcher.compact, name="qinglang-compact", daemon=True)
                self._compacting.start()

    def _in_background(self) -> None:
        """Bring the matcher up to the newest checkpoint in a thread that waits for the holder, while requests are
        served the matcher as it is (`get`). The matcher object is replaced or updated in place, as in `_sync`."""

        def run() -> None:
            try:
                with self._lock:
                    self._sync(self._db_checkpoint())
            except Exception as exc:  # the next request's check starts another
                log.warning("claim_index_sync_failed", error=repr(exc)[:200])

        self._syncing = threading.Thread(target=run, name="qinglang-index-sync", daemon=True)
        self._syncing.start()

    def _catch_up(self, current: int, *, limit: bool = True, background: bool = False) -> None:
        """Upsert or remove the debunks changed since this matcher's checkpoint (marked above it), read from the
        store as the jobs left them. Far behind (``limit``), while the saved index is not: load that instead, and
        catch up from its checkpoint (each debunk caught up is embedded again; a load re-embeds nothing). Far
        behind either way, ``background`` hands the work to `_in_background`."""
        m = self.matcher
        assert m is not None
        with self.db.read() as s:
            marks = {int(i): int(v) for i, v in s.execute(select(Debunk.id, Debunk.index_version)
                                                          .where(Debunk.index_version > self.version))}
        bound = max(CATCH_UP_MIN, int(len(m) * CATCH_UP_SHARE))
        if limit and len(marks) > bound:
            if background:
                self._in_background()
                return
            saved = self._usable_save(current)
            if saved is not None and saved > self.version and sum(v > saved for v in marks.values()) <= bound:
                self._refresh(current)
                return
        with self.db.read() as s:
            public = {d.id: d for d in _published(s, list(marks))} if marks else {}
            docs = [claim_doc(d) for d in public.values()]
        gone = [str(i) for i in marks if i not in public]
        if docs:
            m.upsert(docs)
        if gone:
            m.remove(gone)
        # Marks above `current` were committed with their own checkpoints, which are then committed too.
        self.version = max([current, *marks.values()])
        log.info("claim_index_caught_up", version=self.version, changed=len(marks), docs=len(m))

    def _usable_save(self, current: int) -> int | None:
        """The saved index's checkpoint if it may be loaded and caught up to ``current``: this database's, and not
        ahead of it (a restored database)."""
        saved, saved_db = self._saved_checkpoint()
        with self.db.read() as s:
            this_db = _db_identity(s)
        # An index saved before checkpoints named their database is trusted as before, except at version 0 (nothing
        # was ever applied to it, so rebuilding costs what building it did, and test runs left such empty ones).
        usable = 0 <= saved <= current and (saved_db == this_db if saved_db is not None else saved > 0)
        return saved if usable else None

    def _refresh(self, current: int) -> None:
        """Load the saved index and catch it up (it re-embeds only the debunks changed since the save: the
        migration that added the marks marked every debunk, so a save from before it catches up in full), or build
        one from the store when there is no usable save."""
        m: Matcher | None = None
        with self._files(exclusive=False):  # not while another process swaps the save in
            saved = self._usable_save(current)
            if saved is not None:
                try:
                    m = Matcher.load(self.index_dir / "current")
                except Exception as exc:  # a damaged file is rebuilt from the store, never trusted
                    log.warning("claim_index_load_failed", error=repr(exc)[:200])
        if m is None or saved is None:
            self.rebuild(current)
            return
        if not m.dates_saved:  # saved before debunks carried dates: take them from the store, once
            with self.db.read() as s:
                m.set_published({str(d.id): d.published_at for d in _published(s)})
            self._save(m, saved)
        self.matcher = m
        self.version = saved
        log.info("claim_index_loaded", version=saved, docs=len(m))
        if saved < current:
            self._catch_up(current, limit=False)

    def rebuild(self, version: int | None = None) -> None:
        with self.db.read() as s:
            docs = [claim_doc(d) for d in _published(s)]
            v = _db_version(s) if version is None else version
        m = Matcher(docs)
        self.matcher = m
        self.version = v
        self._save(m, v)
        log.info("claim_index_built", version=v, docs=len(docs))

    def apply(self, debunk_ids: list[int]) -> None:
        """Bump the checkpoint, mark these debunks with it, and bring this process's matcher up to it (as every
        other process will, `get`); then save, or leave the save to a later job if the last one is recent."""
        with self._lock:
            _meta_value(self.db, VERSION_KEY, lambda: "0")  # a row to lock, in the first change's case too
            with self.db.write() as s:
                # Locked on PostgreSQL, so that checkpoints commit in order: a process that sees a debunk marked v
                # then also sees every change below v.
                row = s.execute(select(Meta).where(Meta.key == VERSION_KEY).with_for_update()).scalar_one()
                v = int(row.value) + 1
                row.value = str(v)
                if debunk_ids:
                    s.execute(update(Debunk).where(Debunk.id.in_(debunk_ids)).values(index_version=v))
            self._sync(v)
            self._save_soon()

    def save_if_behind(self) -> None:
        """Save this process's matcher if the saved index is at an older checkpoint (the `save_claim_index` job; a
        newer one, saved by another worker meanwhile, is left as it is)."""
        with self._lock:
            self._sync(self._db_checkpoint())
            assert self.matcher is not None
            if self._saved_checkpoint()[0] < self.version:
                self._save(self.matcher, self.version)

    def _save_soon(self) -> None:
        assert self.matcher is not None
        if self._saved_version == self.version:  # saved at this checkpoint already (a rebuild)
            return
        now = time.monotonic()
        if now - self._saved_at >= SAVE_EVERY:
            self._save(self.matcher, self.version)
            return
        due = datetime.now(UTC) + timedelta(seconds=SAVE_EVERY - (now - self._saved_at))
        with self.db.write() as s:
            enqueue_once(s, SAVE_JOB, run_after=due)

    def _saved_checkpoint(self) -> tuple[int, str | None]:
        """The saved index's checkpoint version (-1 without a readable one) and the database it was built from."""
        try:
            saved = json.loads((self.index_dir / "current" / "checkpoint.json").read_text())
            return int(saved["version"]), saved.get("database")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return -1, None

    def _save(self, m: Matcher, version: int) -> None:
        """Write to a temp dir, then swap it in under the exclusive lock (`_files`), so readers never see a
        half-written index or none, and two workers saving at once never fail on each other's rename. A save of a
        newer checkpoint that got there first stays."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.index_dir / f"tmp-{os.getpid()}-{version}-{secrets.token_hex(4)}"
        this_db = database_identity(self.db)
        m.save(tmp)
        (tmp / "checkpoint.json").write_text(json.dumps({"version": version, "database": this_db}))
        final, old = self.index_dir / "current", self.index_dir / f"old-{tmp.name[4:]}"
        with self._files(exclusive=True):
            saved, saved_db = self._saved_checkpoint()
            if saved > version and saved_db == this_db:
                tmp.rename(old)
            else:
                if final.exists():
                    final.rename(old)
                tmp.rename(final)
            _remove_abandoned(self.index_dir, keep=old)
        shutil.rmtree(old, ignore_errors=True)  # seconds at 1M debunks: not under the lock
        self._saved_at, self._saved_version = time.monotonic(), version

    @contextmanager
    def _files(self, *, exclusive: bool) -> Iterator[None]:
        """The saved index's lock file, shared by every process on this data directory: a save swaps its files in
        under the exclusive lock (two renames), a load reads them under the shared one."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.index_dir / "save.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock


ABANDONED_AFTER = 3600.0  # seconds: a temp dir this old is a save that died (one at 1M debunks takes about 80 s)


def _remove_abandoned(index_dir: Path, keep: Path) -> None:
    """Remove the temp dirs of saves that died (a killed process) and the old indexes they did not remove: at 1M
    debunks each is gigabytes. The caller holds the exclusive lock, so no swap is in progress; ``keep``: the old
    index it has just renamed aside (a renamed directory keeps its time), which it removes after the lock."""
    now = time.time()
    for p in index_dir.iterdir():
        if p != keep and p.is_dir() and p.name.startswith(("tmp-", "old-")):
            try:
                stale = now - p.stat().st_mtime > ABANDONED_AFTER
            except OSError:
                continue
            if stale:
                shutil.rmtree(p, ignore_errors=True)


def _tree_bytes(path: Path) -> int:
    """Bytes in the files under ``path``; a directory being removed meanwhile counts what is left."""
    total = 0
    try:
        for f in path.rglob("*"):
            try:
                total += f.stat().st_size if f.is_file() else 0
            except OSError:
                continue
    except OSError:
        pass
    return total


def index_status(db: Database, index_dir: Path) -> dict[str, Any]:
    """What an operator needs to know about the claim index (`qinglang index status`): the database's checkpoint
    and published debunks, the saved index (its checkpoint, whether it is this database's, its debunks, size and
    age), how many debunks changed since it was saved (what a process starting now catches up), and what dead saves
    left behind."""
    with db.read() as s:
        current, this_db = _db_version(s), _db_identity(s)
        published = s.execute(select(func.count()).where(Debunk.status.in_(PUBLIC_DEBUNK_STATES))).scalar_one()
    out: dict[str, Any] = {"checkpoint": current, "published_debunks": published, "index_dir": str(index_dir),
                           "saved": None, "leftovers": 0, "leftover_bytes": 0}
    if not index_dir.is_dir():
        return out
    h = ClaimIndexHolder(db, index_dir)
    current_dir = index_dir / "current"
    with h._files(exclusive=False):  # not halfway through a save's swap
        saved, saved_db = h._saved_checkpoint()
        if saved >= 0:
            try:
                meta = json.loads((current_dir / "meta.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {}
            with db.read() as s:
                behind = s.execute(select(func.count()).where(Debunk.index_version > saved)).scalar_one()
            when = datetime.fromtimestamp((current_dir / "checkpoint.json").stat().st_mtime, UTC)
            out["saved"] = {
                "checkpoint": saved, "debunks": meta.get("docs"), "bytes": _tree_bytes(current_dir),
                "saved_at": when.isoformat(), "this_database": saved_db == this_db if saved_db is not None else None,
                "usable": h._usable_save(current) is not None, "changed_since": behind}
    left = [p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith(("tmp-", "old-"))]
    out["leftovers"], out["leftover_bytes"] = len(left), sum(map(_tree_bytes, left))
    return out


def rebuild_index(db: Database, index_dir: Path) -> tuple[int, int]:
    """Build the claim index from the store's published debunks and save it (`qinglang index rebuild`: after a
    damaged save, or to start processes from a compact index). Returns (debunks, checkpoint). Running processes
    keep their own matchers; they hold the same debunks."""
    h = ClaimIndexHolder(db, index_dir)
    with h._lock:
        h.rebuild()
        assert h.matcher is not None
        return len(h.matcher), h.version


def _alive(thread: threading.Thread | None) -> bool:
    return thread is not None and thread.is_alive()


_holders: dict[str, ClaimIndexHolder] = {}
_holders_lock = threading.Lock()


def holder(db: Database, index_dir: Path | None = None) -> ClaimIndexHolder:
    with _holders_lock:
        h = _holders.get(db.url)
        if h is None:
            h = _holders[db.url] = ClaimIndexHolder(db, index_dir or (get_settings().data_dir / "index"))
        return h


def set_index_dir(db: Database, index_dir: Path) -> None:
    """Point this process's holder for `db` at a directory (app start-up, tests): a holder of another directory is
    replaced (a test's database at the same PostgreSQL URL as the last test's, with its own directory)."""
    with _holders_lock:
        h = _holders.get(db.url)
        if h is None or h.index_dir != index_dir:
            _holders[db.url] = ClaimIndexHolder(db, index_dir)


@handler("index_debunk")
def index_debunk_job(db: Database, payloads: list[dict[str, Any]]) -> None:
    ids = sorted({int(p["debunk_id"]) for p in payloads})
    holder(db).apply(ids)


@handler(SAVE_JOB)
def save_claim_index_job(db: Database, payloads: list[dict[str, Any]]) -> None:
    holder(db).save_if_behind()


def hits_with_debunks(db: Database, hits: list[MatchHit], *, lang: str = "en") -> list[dict[str, Any]]:
    """Attach each hit's public debunk; hits whose debunk is no longer public are dropped."""
    if not hits:
        return []
    with db.read() as s:
        by_id = {d.id: d for d in _published(s, [int(h.id) for h in hits])}
        out = []
        for h in hits:
            d = by_id.get(int(h.id))
            if d is None:
                continue
            out.append({"debunk": registry.public_dict(d, lang), "debunk_id": d.id, "score": round(h.score, 4),
                        "band": h.band, "explanation": h.explanation, "matched_text": h.matched_text})
        return out


def match_text(
    db: Database, text: str, *, top_k: int = 5, lang: str = "en", date: object = None
) -> list[dict[str, Any]]:
    """Ranked published debunks for ``text`` (``date``: when it was posted, if known) with their public fields."""
    return hits_with_debunks(db, holder(db).get().match(text, top_k=top_k, date=date), lang=lang)


SUGGESTED_BANDS = ("match", "possible")


def suggest_debunks(db: Database, text: str, *, top_k: int = 3, lang: str = "en",
                    date: object = None) -> list[dict[str, Any]]:
    """The published debunks worth showing a person for ``text``: `match_text`'s hits in the bands `match` and
    `possible` (the band meant for a human to judge). What a reviewer or org agent may label a case with, and what
    the public /check page answers."""
    if not text.strip():
        return []
    return [h for h in match_text(db, text, top_k=top_k, lang=lang, date=date) if h["band"] in SUGGESTED_BANDS]


def semantic_debunk_ids(db: Database, q: str, *, limit: int = 20) -> list[int]:
    hits = holder(db).get().match(q, top_k=limit)
    return [int(h.id) for h in hits]


def load_matcher() -> Matcher:
    """The matcher over the configured database's published debunks (CLI `match` / `scan`)."""
    s = get_settings()
    from qinglang.store.db import get_database

    return holder(get_database(s.db_url), s.data_dir / "index").get()
