"""Analysis ahead of the writes while reports pour in: the CPU intake leaves idle is not wasted.

During a flood the pipeline writes little (on SQLite its transactions share one lock with intake's commits; see
`pipeline._intake_busy`), and its analysis stays in a throttled thread of the worker. Intake does not take both
cores: `benchmarks/bench_intake.py` at 1,000 reports/s found the machine 1.43 of 2 cores busy, client included.
Here a thread of the worker keeps one more helper process fed with the next unprocessed reports, and holds its
results (match, triage, dedup signature) until the pipeline writes those reports; once the flood ends, the
first thousands of the backlog need only their writes. While the backlog then drains (oldest first, with both
cores nearly busy), the same helper takes the idle moments left from the other end, the newest reports, while
more than DRAIN_BACKLOG wait; the two ends meet in the middle. Reports with images are left to the pipeline.

That helper runs under Linux's SCHED_IDLE policy: it gets the CPU only when nothing else wants it, so it takes
nothing from request handling. It is a process of its own, not one of the drain's helpers: a policy an
unprivileged process cannot leave again, and a chunk it holds when the flood ends would stall a drain helper
for as long as no CPU is idle (tried: the drain's helpers sat blocked behind their starved chunks). It costs the
memory of one more helper (the models and a copy of the claim index); `QINGLANG_READ_AHEAD=false` turns it off.

A result is used only if the claim index has not changed since it was computed (a debunk published meanwhile
may match): it carries the checkpoint its matches were made against, compared with the database's when taken.
Results not taken within HOLD_SECONDS (another worker processed those reports) are dropped. With several workers
on one machine each reads ahead on its own; the work wasted is done on otherwise idle cycles.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Row, Select, exists, select

from qinglang.cases import analysis
from qinglang.cases.analysis import Analysis, Item, Pending, Result
from qinglang.store.db import Database
from qinglang.store.models import Report, ReportImage

log = structlog.get_logger("qinglang.pipeline")

CHUNK = 32  # reports per call
HOLD_MAX = 8192  # results held at most (each with its dedup signature)
HOLD_SECONDS = 600.0
PURGE_EVERY = 10.0  # seconds between two looks for results held too long
PUMP_EVERY = 0.05  # seconds between two looks at the flood and the helper
DRAIN_BACKLOG = 1024  # during a drain, read ahead from the top only while more reports than this wait
RETRY_AFTER = 60.0  # seconds after the helper failed before another is started

Analysed = tuple[list[Result], list[Any], int]


@dataclass(frozen=True)
class Held:
    result: Result
    signature: Any  # `dedup.Portable`
    version: int  # the claim index checkpoint the match was made against
    at: float


def _unprocessed() -> Select[int, str, str]:
    """The unprocessed reports the idle helper may take: those without images (`analysis._idle_analyze`)."""
    return (select(Report.id, Report.text, Report.description)
            .where(Report.processed.is_(False), ~exists().where(ReportImage.report_id == Report.id)))


class Preanalysis:
    """For one database: a thread that keeps an idle-priority helper process one CHUNK of unprocessed reports
    ahead, the oldest while ``busy()`` holds (a flood), else the newest of a deep backlog; `take` hands the
    results to the pipeline."""

    def __init__(self, db: Database, busy: Callable[[], bool]) -> None:
        self.db = db
        self._busy = busy
        self._lock = threading.Lock()
        self._held: dict[int, Held] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[Analysed] | None = None
        self._failed_at = -RETRY_AFTER
        self._inflight: tuple[list[Item], Future[Analysed], bool] | None = None  # the chunk, and if in a flood
        self._after = 0  # the highest report id handed to the helper during a flood
        self._top: int | None = None  # during a drain, the highest and lowest ids handed to it from the top
        self._below: int | None = None
        self._purged = 0.0
        self.analysed = 0
        self._flood_analysed = 0  # in the flood under way
        self._drain_analysed = 0  # from the top of the backlog draining
        self.used = 0
        self.stale = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the pump --------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the idle helper (its start-up runs on idle CPU, and is over before a flood comes) and the pump."""
        self._helper_ready()
        self._thread = threading.Thread(target=self._run, name="qinglang-preanalysis", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close()

    def _close(self) -> None:
        """Shut the idle helper down and kill it: starved of CPU, it could take long to finish the work it has,
        and the interpreter's exit waits for a pool's work (a worker told to stop would not)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in processes:
                with contextlib.suppress(OSError, ValueError):
                    p.kill()

    def _run(self) -> None:
        while not self._stop.wait(PUMP_EVERY):
            try:
                self.pump()
            except Exception as exc:  # an optimisation: never let it take the worker down
                log.warning("preanalysis_failed", error=repr(exc)[:200])
                self._stop.wait(1.0)

    def pump(self) -> None:
        """Collect a finished result; hand the idle helper the next unprocessed reports: the oldest not yet
        taken while intake is busy, else from the top of a deep backlog."""
        self._collect()
        if self._inflight is not None or len(self._held) + CHUNK > HOLD_MAX:
            return
        busy = self._busy()
        if not busy:
            if self._flood_analysed:
                log.info("read_ahead_flood_over", analysed=self._flood_analysed, held=self.held())
                self._flood_analysed = 0
        if not self._helper_ready():
            return
        items = self._next() if busy else self._next_from_top()
        if items:
            assert self._pool is not None
            try:
                self._inflight = (items, self._pool.submit(analysis._idle_analyze, items), busy)
            except (BrokenProcessPool, RuntimeError) as exc:  # the helper died (killed, out of memory)
                self._fail(exc)

    def _helper_ready(self) -> bool:
        """Whether the idle helper can take work (started again here RETRY_AFTER after a failure)."""
        if self._pool is None:
            if time.monotonic() - self._failed_at < RETRY_AFTER:
                return False
            self._pool = analysis.idle_helper(self.db)
            self._warm = self._pool.submit(analysis._idle_analyze, [(0, "warm-up 预热", "")])
        assert self._warm is not None
        if not self._warm.done():
            return False
        if self._warm.exception() is not None:
            self._fail(self._warm.exception())
            return False
        return True

    def _fail(self, exc: BaseException | None) -> None:
        log.warning("preanalysis_helper_failed", error=repr(exc)[:200])
        self._close()
        self._warm, self._inflight = None, None
        self._failed_at = time.monotonic()

    def _next(self) -> list[Item]:
        """The next unprocessed reports without images (those are analysed by the pipeline, see
        `analysis._idle_analyze`)."""
        with self.db.read() as s:
            rows = s.execute(_unprocessed().where(Report.id > self._after).order_by(Report.id).limit(CHUNK)).all()
        if rows:
            self._after = int(rows[-1][0])
        return self._fresh(rows)

    def _next_from_top(self) -> list[Item]:
        """During a drain (oldest first), the newest unprocessed reports without images, while more than
        DRAIN_BACKLOG reports wait: those that arrived since the last ones taken from the top, else the next below
        them. The two ends meet in the middle."""
        with self.db.read() as s:
            deep = s.execute(select(Report.id).where(Report.processed.is_(False)).order_by(Report.id)
                             .offset(DRAIN_BACKLOG).limit(1)).scalar()
            if deep is None:
                self._top = self._below = None
                if self._drain_analysed:
                    log.info("read_ahead_drain_over", analysed=self._drain_analysed)
                    self._drain_analysed = 0
                return []
            q = _unprocessed().where(Report.id > deep).order_by(Report.id.desc()).limit(CHUNK)
            rows = s.execute(q.where(Report.id > self._top)).all() if self._top is not None else []
            if not rows:
                rows = s.execute(q.where(Report.id < self._below) if self._below is not None else q).all()
        if rows:
            self._top = max(self._top or 0, int(rows[0][0]))
            self._below = min(self._below or int(rows[-1][0]), int(rows[-1][0]))
        return self._fresh(rows)

    def _fresh(self, rows: Sequence[Row[int, str, str]]) -> list[Item]:
        """The rows whose results are not held already (taken from the other end)."""
        with self._lock:
            return [(int(rid), text or "", desc or "") for rid, text, desc in rows if rid not in self._held]

    def _collect(self) -> None:
        now = time.monotonic()
        if self._inflight is not None and self._inflight[1].done():
            items, future, flood = self._inflight
            self._inflight = None
            try:
                results, signatures, version = future.result()
            except Exception as exc:  # the helper died or was stopped: the pipeline analyses these itself
                self._fail(exc)
            else:
                if version >= 0:
                    with self._lock:
                        for (rid, _, _), result, sig in zip(items, results, signatures, strict=True):
                            self._held[rid] = Held(result, sig, version, now)
                    self.analysed += len(items)
                    if flood:
                        self._flood_analysed += len(items)
                    else:
                        self._drain_analysed += len(items)
        if now - self._purged > PURGE_EVERY:
            self._purged = now
            with self._lock:
                for rid in [rid for rid, h in self._held.items() if now - h.at > HOLD_SECONDS]:
                    del self._held[rid]

    # ---- the pipeline's side -----------------------------------------------------------------------------------
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def holds(self, report_id: int) -> bool:
        return report_id in self._held

    def forget(self, report_ids: list[int]) -> None:
        """These reports are processed: results still held for them (analysed here meanwhile) are not needed."""
        with self._lock:
            for rid in report_ids:
                self._held.pop(rid, None)

    def take(self, items: list[Item], checkpoint: Callable[[], int]) -> dict[int, tuple[Result, Any]]:
        """The held results of these reports, by position in ``items``, that are still current (``checkpoint``:
        the database's claim index checkpoint, read only if something is held). Taken results are no longer held."""
        with self._lock:
            found = {k: h for k, (rid, _, _) in enumerate(items) if (h := self._held.pop(rid, None)) is not None}
        if not found:
            return {}
        current = checkpoint()
        out = {k: (h.result, h.signature) for k, h in found.items() if h.version == current}
        self.used += len(out)
        self.stale += len(found) - len(out)
        return out


def combine(items: list[Item], got: dict[int, tuple[Result, Any]], submit: Callable[[list[Item]], Pending]
            ) -> Pending:
    """A pending analysis of ``items`` made of the held results ``got`` (by position) and, for the rest, one
    submitted now. Signatures are None where the rest was analysed without them (in a thread)."""
    missing = [item for k, item in enumerate(items) if k not in got]
    rest = submit(missing) if missing else None

    def result() -> Analysis:
        results, signatures = rest() if rest is not None else ([], None)
        more_r = iter(results)
        more_s = iter(signatures) if signatures is not None else None
        out_r: list[Result] = []
        out_s: list[Any] = []
        for k in range(len(items)):
            if k in got:
                r, sig = got[k]
            else:
                r, sig = next(more_r), next(more_s) if more_s is not None else None
            out_r.append(r)
            out_s.append(sig)
        return out_r, out_s

    return Pending(result, rest.done if rest is not None else lambda: True)


_running: dict[str, Preanalysis] = {}
_running_lock = threading.Lock()


def start(db: Database, busy: Callable[[], bool]) -> Preanalysis:
    """Read ahead for ``db`` (one per database and process); ``busy()``: whether reports are pouring in."""
    with _running_lock:
        pre = _running.get(db.url)
        if pre is None:
            pre = _running[db.url] = Preanalysis(db, busy)
            pre.start()
        return pre


def running(db: Database) -> Preanalysis | None:
    return _running.get(db.url)


def stop_all() -> None:
    with _running_lock:
        for pre in _running.values():
            pre.stop()
        _running.clear()
