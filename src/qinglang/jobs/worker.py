"""The in-process worker: a thread that claims due jobs and runs their handlers, batching by kind.

Handlers take (db, payloads) and process a whole batch at once, so embedding and matching are batched.
A handler that raises puts its jobs back with backoff; other kinds keep running.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from qinglang.jobs import queue
from qinglang.store.db import Database

log = structlog.get_logger("qinglang.jobs")

Handler = Callable[[Database, list[dict[str, Any]]], None]
HANDLERS: dict[str, Handler] = {}
HANDLER_MODULES = ("qinglang.match.store_source", "qinglang.cases.pipeline", "qinglang.cases.webhooks",
                   "qinglang.cases.sla")
_running: list[Worker] = []
_PROCESS_STARTED = datetime.now(UTC)


def load_handlers() -> None:
    """Import every module that registers job handlers (they register on import)."""
    import importlib

    for name in HANDLER_MODULES:
        importlib.import_module(name)


def notify_all() -> None:
    """Wake this process's workers now (new work was just committed)."""
    for w in list(_running):
        w.notify()


def handler(kind: str, *, batch: Callable[[Database], int] | None = None) -> Callable[[Handler], Handler]:
    """Register a handler; ``batch``: how many jobs a round may claim when this kind wants more than `BATCH`
    right now (asked before each claim)."""
    def deco(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        if batch is not None:
            BATCH_HINTS[kind] = batch
        return fn

    return deco


BATCH = 256  # jobs claimed per round: a report backlog is analysed and written as one pipelined batch
BATCH_HINTS: dict[str, Callable[[Database], int]] = {}


def round_limit(db: Database) -> int:
    """Jobs to claim this round: `BATCH`, or more when a handler asks for more (see `handler`)."""
    limit = BATCH
    for hint in BATCH_HINTS.values():
        try:
            limit = max(limit, int(hint(db)))
        except Exception as exc:  # a hint is an optimisation: never let it stop the worker
            log.warning("batch_hint_failed", error=repr(exc)[:200])
    return limit


def run_once(db: Database, *, limit: int | None = None) -> int:
    """Claim and run one batch of due jobs. Returns how many jobs were taken."""
    if not HANDLERS:
        return 0
    jobs = queue.claim(db, kinds=tuple(HANDLERS), limit=round_limit(db) if limit is None else limit)
    by_kind: dict[str, list[queue.Claimed]] = defaultdict(list)
    for j in jobs:
        by_kind[j.kind].append(j)
    for kind, batch in by_kind.items():
        fn = HANDLERS.get(kind)
        if fn is None:
            for j in batch:
                queue.fail(db, j, f"no handler for job kind {kind!r}")
            continue
        try:
            fn(db, [j.payload for j in batch])
        except Exception as exc:  # a failing batch is retried job by job so one bad payload cannot block others
            log.warning("job_batch_failed", kind=kind, size=len(batch), error=repr(exc)[:300])
            for j in batch:
                try:
                    fn(db, [j.payload])
                    queue.complete(db, [j.id])
                except Exception as one_exc:
                    queue.fail(db, j, repr(one_exc))
            continue
        queue.complete(db, [j.id for j in batch])
    return len(jobs)


def drain(db: Database, *, max_rounds: int = 1000) -> None:
    """Run jobs until none is due (tests, CLI)."""
    load_handlers()
    for _ in range(max_rounds):
        if run_once(db) == 0:
            return


class Worker:
    """A daemon thread running `run_once` until stopped; woken early by `notify()`."""

    def __init__(self, db: Database, *, idle_seconds: float = 1.0) -> None:
        self.db = db
        self.idle_seconds = idle_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qinglang-worker", daemon=True)

    def start(self) -> None:
        load_handlers()
        n = queue.requeue_orphans(self.db, locked_before=_PROCESS_STARTED)
        if n:
            log.info("jobs_requeued_after_restart", jobs=n)
        _running.append(self)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self in _running:
            _running.remove(self)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                n = run_once(self.db)
            except Exception as exc:
                log.error("worker_error", error=repr(exc)[:300])
                n = 0
            if n == 0:
                self._wake.wait(self.idle_seconds)
                self._wake.clear()
