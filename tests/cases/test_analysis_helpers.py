"""A backlog is analysed in a helper process: same matches, same cases, and no chunk analysed in the writer."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from sqlalchemy import select

from qinglang.cases import analysis, intake, pipeline
from qinglang.store.models import Report


def test_backlog_goes_to_the_helper_process(db: Any, settings: Any, backlog: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    texts = backlog.texts(analysis.HELPER_MIN_REPORTS)
    ids = [intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=t),
                                client_key=f"10.1.0.{i % 250}").report_id for i, t in enumerate(texts)]

    monkeypatch.setattr(analysis, "helper_processes", lambda: 1)
    in_thread: list[int] = []
    real = analysis._thread_analyze

    def spy(db_: Any, items: list[Any]) -> Any:
        in_thread.append(len(items))
        return real(db_, items)

    monkeypatch.setattr(analysis, "_thread_analyze", spy)
    helpers = analysis.start_helpers(db)
    try:
        assert helpers is not None
        deadline = time.monotonic() + 180
        while not helpers.ready():
            assert time.monotonic() < deadline and not helpers.broken, "the helper did not start"
            time.sleep(0.2)
        # Two rounds, as the worker claims them: the second (3 reports, too few for the helper on its own) was
        # analysed ahead by the helper while the first round's chunk was written.
        first = analysis.HELPER_MIN_REPORTS
        assert pipeline.process_reports(db, ids[:first]) == first
        assert [rid for part, _ in pipeline._ahead[db.url][1] for rid, _, _ in part] == ids[first:]
        assert pipeline.process_reports(db, ids[first:]) == len(ids) - first
        assert in_thread == [] and db.url not in pipeline._ahead  # every chunk was analysed by the helper

        # A helper killed (out of memory, an operator): the backlog is still processed, in the thread.
        more = [intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=f"{t} 再次"),
                                     client_key="10.2.0.1").report_id for t in texts]
        for pid in list(helpers._pool._processes):
            os.kill(pid, signal.SIGKILL)
        assert pipeline.process_reports(db, more) == len(more)
        assert helpers.broken and in_thread  # noticed, and the chunks were analysed here instead
        assert analysis.start_helpers(db) is not helpers  # the next backlog starts new helpers
    finally:
        analysis.stop_helpers()
    with db.read() as s:
        assert all(s.execute(select(Report.processed).where(Report.id.in_(more))).scalars())
    with db.read() as s:
        rows = {r.id: r for r in s.execute(select(Report).where(Report.id.in_(ids))).scalars()}
    assert all(r.processed and r.case_id for r in rows.values())
    assert rows[ids[0]].debunk_id == backlog.debunk_id  # the helper's match reached the report
    assert rows[ids[1]].case_id == rows[ids[2]].case_id  # near-duplicates (signatures from the helper) joined
    assert rows[ids[0]].case_id != rows[ids[1]].case_id


def test_worker_rounds_grow_for_a_quiet_backlog_only(db: Any, settings: Any, monkeypatch: Any) -> None:
    from qinglang.jobs import worker

    worker.load_handlers()
    assert worker.round_limit(db) == pipeline.BACKLOG_BATCH > worker.BATCH  # nothing arriving: a large round
    for i in range(pipeline.BUSY_ARRIVALS_PER_SECOND + 2):  # a burst of arrivals within the last second
        intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=f"burst report {i}"),
                             client_key="10.9.9.9")
    assert worker.round_limit(db) == worker.BATCH

    def broken(_: Any) -> int:
        raise RuntimeError("hint failed")

    monkeypatch.setitem(worker.BATCH_HINTS, "broken", broken)  # a failing hint never stops the worker
    assert worker.round_limit(db) == worker.BATCH


def test_a_cancelled_helper_result_is_analysed_here(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import Future

    class StoppedHelpers:  # helpers stopped while a look-ahead chunk was still queued
        processes = 1
        failures: list[BaseException] = []

        def ready(self) -> bool:
            return True

        def submit(self, items: list[Any]) -> Future[Any]:
            f: Future[Any] = Future()
            f.cancel()
            return f

        def fail(self, exc: BaseException) -> None:
            self.failures.append(exc)

    helpers = StoppedHelpers()
    monkeypatch.setattr(analysis, "_thread_analyze", lambda db_, items: (["analysed here"] * len(items), None))
    with analysis.Stage(db, 1) as stage:
        stage._helpers = helpers  # type: ignore[assignment]
        assert stage.uses_helpers()
        assert stage.submit([(1, "text", "")])() == (["analysed here"], None)
    assert helpers.failures  # the helpers are marked unusable; the next backlog starts new ones
