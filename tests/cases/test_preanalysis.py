"""Reports analysed ahead by an idle-priority helper (during a flood, and from the top of a deep backlog): the
pipeline writes them without analysing them again, with the same matches and cases, and never with a result older
than the claim index."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from sqlalchemy import select

from qinglang.cases import analysis, intake, pipeline, preanalysis
from qinglang.match.store_source import CHECK_EVERY
from qinglang.store.models import Report


def _wait(pre: preanalysis.Preanalysis, analysed: int, deadline: float = 180) -> None:
    end = time.monotonic() + deadline
    while pre.analysed < analysed:
        assert time.monotonic() < end, f"the idle helper analysed {pre.analysed} of {analysed}"
        time.sleep(0.1)


def test_reports_analysed_ahead_are_written_without_a_second_analysis(
        db: Any, settings: Any, backlog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from qinglang.match.store_source import holder

    texts = backlog.texts(preanalysis.CHUNK + 5)

    def submit(batch: list[str], tag: str) -> list[int]:
        return [intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=t + tag),
                                     client_key=f"10.3.0.{i % 250}").report_id for i, t in enumerate(batch)]

    ids = submit(texts, "")
    in_thread: list[int] = []
    real = analysis._thread_analyze

    def spy(db_: Any, items: list[Any]) -> Any:
        in_thread.extend(rid for rid, _, _ in items)
        return real(db_, items)

    monkeypatch.setattr(analysis, "_thread_analyze", spy)
    flood = [True]
    pre = preanalysis.start(db, lambda: flood[0])
    try:
        _wait(pre, len(ids))  # two calls: CHUNK reports, then the rest
        assert pre.analysed == len(ids) and pre.held() == len(ids)
        pool = pre._pool
        assert pool is not None
        for pid in list(pool._processes):  # type: ignore[attr-defined]
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE

        flood[0] = False  # the flood is over: nothing more is handed to the helper
        later = submit(texts[3:8], " 再次")
        time.sleep(10 * preanalysis.PUMP_EVERY)
        assert pre.analysed == len(ids)

        # One round with the held reports and five that were not: only those five are analysed here.
        assert pipeline.process_reports(db, ids + later) == len(ids) + len(later)
        assert sorted(in_thread) == sorted(later)
        assert pre.used == len(ids) and pre.stale == 0 and pre.held() == 0

        # Held results older than the claim index are not used: a debunk changed after they were computed.
        flood[0] = True
        again = submit(texts[:4], " 第三次")
        _wait(pre, len(ids) + len(again))
        holder(db).apply([backlog.debunk_id])
        in_thread.clear()
        assert pipeline.process_reports(db, again) == len(again)
        assert sorted(in_thread) == sorted(again) and pre.stale == len(again)

        # A deep backlog draining (no flood): the newest reports are read ahead from the top, down to the deepest
        # DRAIN_BACKLOG ones, which the pipeline reaches first. (The idle helper looks for the change above at most
        # every CHECK_EVERY: until then its results would be stale, as they should.)
        time.sleep(CHECK_EVERY + 0.2)
        flood[0] = False
        monkeypatch.setattr(preanalysis, "DRAIN_BACKLOG", 4)
        before = pre.analysed
        deep = submit(texts[8:20], " 排队")
        _wait(pre, before + len(deep) - 5)
        time.sleep(10 * preanalysis.PUMP_EVERY)
        assert pre.analysed == before + len(deep) - 5  # nothing more: the rest is at the bottom of the backlog
        assert all(pre.holds(rid) for rid in deep[5:]) and not any(pre.holds(rid) for rid in deep[:5])
        in_thread.clear()
        assert pipeline.process_reports(db, deep) == len(deep)
        assert sorted(in_thread) == sorted(deep[:5]) and pre.held() == 0

        # Results held for reports the pipeline analysed itself meanwhile are dropped once those are processed.
        flood[0] = True
        before = pre.analysed
        raced = submit(texts[:3], " 第四次")
        _wait(pre, before + len(raced))
        assert all(pre.holds(rid) for rid in raced)
        monkeypatch.setattr(pre, "take", lambda items, checkpoint: {})
        assert pipeline.process_reports(db, raced) == len(raced)
        assert pre.held() == 0
    finally:
        preanalysis.stop_all()
    assert preanalysis.running(db) is None

    with db.read() as s:
        rows = {r.id: r for r in s.execute(select(Report).where(Report.id.in_(ids + later + again + deep))).scalars()}
    assert all(r.processed and r.case_id for r in rows.values())
    assert rows[ids[0]].debunk_id == backlog.debunk_id  # the idle helper's match reached the report
    assert rows[again[0]].debunk_id == backlog.debunk_id
    assert rows[ids[1]].case_id == rows[ids[2]].case_id  # near-duplicates (signatures from the idle helper) joined
    assert rows[ids[0]].case_id != rows[ids[1]].case_id
    assert rows[later[0]].case_id == rows[ids[3]].case_id  # analysed here, joined a case analysed ahead


def test_in_flight_counts_only_chunks_under_analysis_while_quiet() -> None:
    done = analysis.Pending(lambda: ([], None), lambda: True)
    working = analysis.Pending(lambda: ([], None), lambda: False)
    from collections import deque

    pending = deque([done, done, working])
    assert pipeline._in_flight(pending, busy=False) == 1  # analysed ahead: the helpers take the next chunks
    assert pipeline._in_flight(pending, busy=True) == 3  # a flood: the thread stays one chunk ahead, no more


def test_combine_keeps_the_order_of_held_and_fresh_results() -> None:
    items = [(1, "a", ""), (2, "b", ""), (3, "c", ""), (4, "d", "")]
    held = {0: ((None, {"n": 1}), "sig1"), 2: (((7, 0.9), None), "sig3")}
    asked: list[list[Any]] = []

    def submit(rest: list[Any]) -> analysis.Pending:
        asked.append(rest)
        return analysis.Pending(lambda: ([(None, {"n": rid}) for rid, _, _ in rest], None), lambda: True)

    results, signatures = preanalysis.combine(items, held, submit)()
    assert asked == [[(2, "b", ""), (4, "d", "")]]
    assert results == [(None, {"n": 1}), (None, {"n": 2}), ((7, 0.9), None), (None, {"n": 4})]
    assert signatures == ["sig1", None, "sig3", None]  # None: computed by the writer (`dedup.warm`)
    assert preanalysis.combine(items[:1], {0: held[0]}, submit).done()  # all held: nothing to wait for
    assert len(asked) == 1
