"""The pipeline's analysis stage: for a chunk of reports, the best `match`-band debunk, the triage result and the
indicators decoded from images. Reads the store and the models, writes nothing.

It runs beside the write transactions: in a thread of the worker process for small batches, and in helper
processes (`QINGLANG_ANALYSIS_PROCESSES`) while a backlog drains. A thread shares one GIL with the writes (both
are mostly Python), so the two took turns on one core; a helper process runs on the other core. The worker starts
the helpers before it declares itself ready (`serve` opens its port after that), and otherwise they start at the
first backlog met while intake is quiet (their start-up takes seconds of CPU, which must not land in a flood of
reports); the thread serves until they have answered a warm-up call. While reports pour in, the
thread does the (throttled) work. Helpers run at normal priority: with them at nice 19,
`benchmarks/bench_pipeline.py` drained a backlog at 152/s instead of 222/s.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select

from qinglang.store.db import Database
from qinglang.store.models import ReportImage

if TYPE_CHECKING:
    from qinglang.match.matcher import Matcher

log = structlog.get_logger("qinglang.pipeline")

Item = tuple[int, str, str]  # report id, text, description
Result = tuple[tuple[int, float] | None, dict[str, Any] | None]  # (debunk id, score) in band `match`; triage
ANALYZE_NICENESS = 10
# Batches at least this large (a backlog) go to the helper processes; a trickle of reports stays in the thread,
# which answers sooner (no hand-over to another process).
HELPER_MIN_REPORTS = 128


# The text analysis (match and triage) of recent texts, per text and description-when-there-is-no-text: a report
# that repeats one word for word (a chain message reported over and over) costs no model time. An entry holds for
# the claim index version it was computed against: a debunk published since makes it stale. Results are shared
# between the reports that repeat a text (and with the memo): never change one in place.
MEMO_SIZE = 4096
_memo: OrderedDict[tuple[str, str], tuple[int, Result]] = OrderedDict()
_memo_lock = threading.Lock()


def analyze(db: Database, items: list[Item]) -> list[Result]:
    """Match, triage and image indicators for these reports (same order)."""
    return analyze_versioned(db, items)[0]


def analyze_versioned(db: Database, items: list[Item], *, images: bool = True) -> tuple[list[Result], int]:
    """`analyze`, and the claim index checkpoint its matches were made against (-1 when that is not known: the
    matcher was replaced while it was read). ``images=False``: the reports have none (their table is not read)."""
    from qinglang.match.store_source import holder

    keys = [(t, "" if t.strip() else d) for _, t, d in items]
    index = holder(db)
    matcher = index.get()  # refreshed if another process published since (at most once a second)
    version = index.version
    # Replaced meanwhile (a background load): the version read may be the new matcher's, so the memo is left alone.
    known = index.matcher is matcher
    memo = _memo if known else OrderedDict()
    out: list[Result | None] = [None] * len(items)
    todo: dict[tuple[str, str], list[int]] = {}
    with _memo_lock:
        for i, key in enumerate(keys):
            hit = memo.get(key)
            if hit is not None and hit[0] == version:
                memo.move_to_end(key)
                out[i] = hit[1]
            else:
                todo.setdefault(key, []).append(i)
    if todo:
        texts = [t for t, _ in todo]
        fresh = list(zip(_match_texts(matcher, texts), _triage(texts, [d for _, d in todo]), strict=True))
        with _memo_lock:
            for (key, where), result in zip(todo.items(), fresh, strict=True):
                memo[key] = (version, result)
                memo.move_to_end(key)
                for i in where:
                    out[i] = result
            while len(memo) > MEMO_SIZE:
                memo.popitem(last=False)
    matches = [r[0] for r in out]  # type: ignore[index]
    triage = [r[1] for r in out]  # type: ignore[index]
    for i, found in enumerate(_image_indicators(db, [rid for rid, _, _ in items]) if images else []):
        if found:  # QR codes in screenshots: scam links and payment codes are indicators like typed ones
            tri = triage[i] or {}
            triage[i] = {**tri, "indicators": union_indicators(tri.get("indicators", []), found)}  # a new dict
    return list(zip(matches, triage, strict=True)), version if known else -1


def _match_texts(matcher: Matcher, texts: list[str]) -> list[tuple[int, float] | None]:
    """The best `match`-band debunk per text (None for no text or no match), from the claim index ``analyze``
    read its version of."""
    out: list[tuple[int, float] | None] = [None] * len(texts)
    idx = [i for i, t in enumerate(texts) if t.strip()]
    if not idx or len(matcher) == 0:
        return out
    for i, hits in zip(idx, matcher.match_many([texts[i] for i in idx], top_k=1, explain=False, band_only=True),
                       strict=True):
        if hits:  # band_only: a hit is in the `match` band
            out[i] = (int(hits[0].id), float(hits[0].score))
    return out


def _triage(texts: list[str], descriptions: list[str]) -> list[dict[str, Any] | None]:
    """Classifier and detector results per report (see qinglang.triage)."""
    from qinglang.cases.triage_bridge import analyze_reports

    return analyze_reports(texts, descriptions)


def _image_indicators(db: Database, report_ids: list[int]) -> list[list[dict[str, Any]]]:
    """Indicators decoded from each report's stored images (QR codes → qr, url, domain…)."""
    from PIL import Image

    from qinglang.text.indicators import from_image

    with db.read() as s:
        rows = s.execute(select(ReportImage.report_id, ReportImage.path)
                         .where(ReportImage.report_id.in_(report_ids))).all()
    per: dict[int, list[dict[str, Any]]] = {}
    for rid, path in rows:
        try:
            with Image.open(path) as img:
                found = from_image(img.convert("RGB"))
        except (OSError, ValueError) as exc:  # the file was checked at intake; a later loss is logged, not fatal
            log.warning("image_unreadable", report=rid, error=repr(exc)[:120])
            continue
        per.setdefault(rid, []).extend({"kind": x.kind, "value": x.value, "raw": x.raw} for x in found)
    return [per.get(rid, []) for rid in report_ids]


def union_indicators(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    have = {(i["kind"], i["value"]) for i in old}
    return old + [i for i in new if (i["kind"], i["value"]) not in have]


def background() -> None:
    """Analysis runs below normal priority, where Linux allows a per-thread nice value: it yields the CPU to
    request handling and to the pipeline's own short writes (a niced writer would hold the database lock
    longer while it waits for the CPU)."""
    _nice_thread(ANALYZE_NICENESS)


def _nice_thread(niceness: int) -> None:
    """Give the calling thread this nice value, where the platform allows one per thread."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (OSError, AttributeError):
        pass


# ---- helper processes -----------------------------------------------------------------------------------------

_helper_db: Database | None = None
_helper_settled = False


def _init_helper(parent: int, db_url: str, index_dir: str, triage_model: str) -> None:
    global _helper_db
    from qinglang.lifecycle import die_with_parent, one_math_thread
    from qinglang.match.store_source import set_index_dir
    from qinglang.store.db import get_database

    die_with_parent(parent)
    one_math_thread()
    os.environ["QINGLANG_TRIAGE_MODEL"] = triage_model
    os.environ["QINGLANG_EMBED_THREADS"] = "1"
    _helper_db = get_database(db_url)
    set_index_dir(_helper_db, Path(index_dir))


def _helper_analyze(items: list[Item]) -> tuple[list[Result], list[Any]]:
    """`analyze`, plus the texts' dedup signatures (`dedup.portable`): computing them here leaves the writer
    process only the lookups."""
    from qinglang.cases import dedup

    global _helper_settled
    assert _helper_db is not None
    out = analyze(_helper_db, items), [dedup.portable(t) for _, t, _ in items]
    if not _helper_settled:  # the first call loaded the models
        from qinglang.lifecycle import settle_heap

        settle_heap()
        _helper_settled = True
    return out


PRE_NICENESS = 19


def _lowest() -> None:
    """This thread runs only on CPU time nothing else wants: Linux's SCHED_IDLE policy (which an unprivileged
    thread may take, and not leave), else the highest nice value."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
        return
    except (OSError, AttributeError):
        pass
    _nice_thread(PRE_NICENESS)


def _init_idle_helper(parent: int, db_url: str, index_dir: str, triage_model: str) -> None:
    """A helper that runs only on idle CPU (`cases.preanalysis`), its models loaded on idle CPU too."""
    _lowest()
    _init_helper(parent, db_url, index_dir, triage_model)


def _idle_analyze(items: list[Item]) -> tuple[list[Result], list[Any], int]:
    """`_helper_analyze` for reports without images, with the claim index checkpoint its matches were made
    against. Their images are not looked up: a process starved of CPU inside a read transaction would hold
    SQLite's WAL from being checkpointed, and every commit meanwhile would try again."""
    from qinglang.cases import dedup

    assert _helper_db is not None
    results, version = analyze_versioned(_helper_db, items, images=False)
    return results, [dedup.portable(t) for _, t, _ in items], version


def idle_helper(db: Database) -> ProcessPoolExecutor:
    """One helper process for ``db`` that runs only on idle CPU (the caller shuts it down)."""
    from qinglang.match.store_source import holder
    from qinglang.settings import get_settings

    return ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_init_idle_helper,
                               initargs=(os.getpid(), db.url, str(holder(db).index_dir), get_settings().triage_model))


def _thread_analyze(db: Database, items: list[Item]) -> tuple[list[Result], None]:
    return analyze(db, items), None


class Helpers:
    """Helper processes for one database; started on the first backlog and kept for the process's life."""

    def __init__(self, db: Database, processes: int) -> None:
        from qinglang.match.store_source import holder
        from qinglang.settings import get_settings

        self.processes = processes
        self._pool = ProcessPoolExecutor(
            processes, mp_context=get_context("spawn"), initializer=_init_helper,
            initargs=(os.getpid(), db.url, str(holder(db).index_dir), get_settings().triage_model))
        self._ready = [self._pool.submit(_helper_analyze, [(0, "warm-up 预热", "")]) for _ in range(processes)]
        self._failed: BaseException | None = None

    def _start_failed(self) -> bool:
        if self._failed is None and all(f.done() for f in self._ready):
            failed = next((f.exception() for f in self._ready if f.exception() is not None), None)
            if failed is not None:
                self.fail(failed)
        return self._failed is not None

    def ready(self) -> bool:
        return not self._start_failed() and all(f.done() for f in self._ready)

    def fail(self, exc: BaseException) -> None:
        """Mark the helpers unusable (a start-up error, or a helper killed); `start_helpers` starts new ones."""
        if self._failed is None:
            log.warning("analysis_helper_failed", error=repr(exc)[:200])
            self._failed = exc

    @property
    def broken(self) -> bool:
        return self._start_failed()

    def submit(self, items: list[Item]) -> Future[tuple[list[Result], list[Any]]]:
        return self._pool.submit(_helper_analyze, items)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


_helpers: dict[str, Helpers] = {}
_helpers_lock = threading.Lock()


def helper_processes() -> int:
    """Configured helper processes (QINGLANG_ANALYSIS_PROCESSES; default 2: measured on 2 cores by
    benchmarks/bench_pipeline.py, a backlog drained at 171/s with none, 188/s with one, 222/s with two)."""
    from qinglang.settings import get_settings

    return get_settings().analysis_processes


def running_helpers(db: Database) -> Helpers | None:
    """This process's helpers for ``db`` if they are up (none is started)."""
    h = _helpers.get(db.url)
    return h if h is not None and h.ready() else None


def start_helpers(db: Database) -> Helpers | None:
    """This process's analysis helpers for ``db``, started now if they are not running (they become ready
    seconds later; until then `Stage` analyses in a thread)."""
    n = helper_processes()
    if n == 0 or (db.is_sqlite and (":memory:" in db.url or db.url.rstrip("/") == "sqlite:")):
        return None  # an in-memory database is invisible to other processes
    with _helpers_lock:
        h = _helpers.get(db.url)
        if h is None or h.broken:
            if h is not None:
                h.close()
            h = _helpers[db.url] = Helpers(db, n)
        return h


def stop_helpers() -> None:
    from qinglang.cases import preanalysis

    preanalysis.stop_all()  # it runs beside the helpers
    with _helpers_lock:
        for h in _helpers.values():
            h.close()
        _helpers.clear()


Analysis = tuple[list[Result], list[Any] | None]  # results, and dedup signatures where a helper computed them


class Pending:
    """A chunk's analysis under way: called, it waits for it; `done` tells without waiting."""

    def __init__(self, wait: Callable[[], Analysis], done: Callable[[], bool]) -> None:
        self._wait = wait
        self.done = done

    def __call__(self) -> Analysis:
        return self._wait()


class Stage:
    """Submits chunks for analysis: to the helper processes when they are up and the batch is a backlog, else
    to a thread of this process. ``depth``: how many chunks to keep in flight."""

    def __init__(self, db: Database, n_reports: int, *, busy: bool = False) -> None:
        self.db = db
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="qinglang-analyze", initializer=background)
        self._helpers: Helpers | None = None
        if n_reports >= HELPER_MIN_REPORTS:
            # A backlog: use the helpers, starting them if intake is quiet (their start-up takes seconds of
            # CPU, which must not land in the middle of a flood of reports).
            self._helpers = _helpers.get(db.url) if busy else start_helpers(db)

    def uses_helpers(self, *, busy: bool = False) -> bool:
        """Whether `submit` hands work to the helper processes (a backlog, intake quiet, helpers ready)."""
        return not busy and self._helpers is not None and self._helpers.ready()

    def helper_count(self) -> int:
        return self._helpers.processes if self._helpers is not None else 0

    def depth(self, *, busy: bool = False) -> int:
        """Chunks to keep in flight. ``busy``: reports are pouring in; analysis then stays in this process's
        low-priority thread, one chunk ahead, so that a helper at full priority does not take CPU from intake."""
        return self._helpers.processes + 1 if self.uses_helpers(busy=busy) and self._helpers is not None else 1

    def submit(self, items: list[Item], *, busy: bool = False) -> Pending:
        """The analysis under way: (results, dedup signatures computed by a helper, else None)."""
        helpers = self._helpers
        if self.uses_helpers(busy=busy) and helpers is not None:
            try:
                future = helpers.submit(items)
            except (BrokenProcessPool, RuntimeError) as exc:
                helpers.fail(exc)
            else:
                def result() -> Analysis:
                    try:
                        return future.result()
                    # A helper died (killed, out of memory), or the helpers were stopped while this was queued
                    # (a look-ahead outlives its round): analyse it here.
                    except (BrokenProcessPool, CancelledError) as exc:
                        helpers.fail(exc)
                        return _thread_analyze(self.db, items)

                return Pending(result, future.done)
        future_here = self._thread.submit(_thread_analyze, self.db, items)
        return Pending(future_here.result, future_here.done)

    def close(self) -> None:
        self._thread.shutdown(cancel_futures=True)

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
