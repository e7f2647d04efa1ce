"""On SQLite the pipeline keeps its write transactions small while reports pour in, and large once they stop."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from qinglang.cases import arrivals, intake, pipeline
from qinglang.store.models import Report


def test_write_step_follows_the_arrival_rate(db: Any, settings: Any) -> None:
    assert pipeline._write_step(db) == pipeline.WRITE_CHUNK  # no reports at all
    for i in range(pipeline.BUSY_ARRIVALS_PER_SECOND + 5):
        intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=f"flood {i}"), client_key="x")
    assert pipeline._write_step(db) == pipeline.BUSY_WRITE_CHUNK  # 25 reports within the last second
    with db.write() as s:
        s.execute(update(Report).values(created_at=datetime.now(UTC) - timedelta(seconds=30)))
    assert pipeline._write_step(db) == pipeline.WRITE_CHUNK  # the flood is over


def test_a_flood_ends_when_submissions_stop_arriving_not_a_second_later(db: Any, settings: Any) -> None:
    assert not arrivals.quiet(db)  # never marked: the reports table decides
    for i in range(pipeline.BUSY_ARRIVALS_PER_SECOND + 5):
        intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=f"burst {i}"), client_key="y")
    mark = arrivals.mark_path(db)
    assert mark.exists() and not arrivals.quiet(db)
    assert pipeline._intake_busy(db)  # the reports arrived within the last second
    old = time.time() - 2 * arrivals.QUIET_AFTER  # no submission since: over, though the table's window is not
    os.utime(mark, (old, old))
    assert arrivals.quiet(db) and not pipeline._intake_busy(db)
    assert pipeline._write_step(db) == pipeline.WRITE_CHUNK
    arrivals._last_touch.clear()  # another process's mark, or this one's after TOUCH_EVERY
    intake.submit_report(db, settings, intake.ReportInput(category="rumor", text="one more"), client_key="y")
    assert not arrivals.quiet(db) and pipeline._intake_busy(db)  # arriving again


def test_a_chunk_begun_during_a_flood_finishes_in_full_transactions(db: Any, settings: Any, monkeypatch: Any) -> None:
    ids = [intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=f"after the flood {i}"),
                                client_key=f"10.0.0.{i}").report_id for i in range(40)]
    readings = iter([True])  # busy when the chunk starts, quiet at every later look
    monkeypatch.setattr(pipeline, "_intake_busy", lambda db: next(readings, False))
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(pipeline, "WRITE_CHUNK", 16)  # smaller than the analysis chunk of 40 reports
    sizes: list[int] = []
    apply = pipeline._apply
    monkeypatch.setattr(pipeline, "_apply", lambda db, work, blocklist: (sizes.append(len(work)),
                                                                          apply(db, work, blocklist)))
    assert pipeline.process_reports(db, ids) == 40
    # Two reports while busy, then the rest of the same chunk in transactions of WRITE_CHUNK (not 19 more of 2).
    assert sizes == [pipeline.BUSY_WRITE_CHUNK, 16, 16, 40 - 2 - 32]


def test_a_pause_ends_when_the_flood_does(db: Any, monkeypatch: Any) -> None:
    readings = iter([True, True])  # busy at the first two looks, then quiet
    monkeypatch.setattr(pipeline, "_intake_busy", lambda db: next(readings, False))
    started = time.monotonic()
    pipeline._pause(db, 5.0)
    assert time.monotonic() - started < 5 * pipeline.PAUSE_CHECK  # three looks, not the whole 5 s
    monkeypatch.setattr(pipeline, "_intake_busy", lambda db: True)
    started = time.monotonic()
    pipeline._pause(db, 0.3)  # a flood that goes on: the whole pause
    assert time.monotonic() - started >= 0.3


def test_after_an_unused_look_ahead_the_next_round_does_not_look_ahead(db: Any, settings: Any) -> None:
    from qinglang.cases import analysis

    ids = [intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=f"look ahead {i}"),
                                client_key="10.0.3.1").report_id for i in range(3)]
    never: list[int] = []
    # Another worker took the reports this one analysed ahead: the round begins with other reports.
    pipeline._ahead[db.url] = (time.monotonic(), [([(10**9, "someone else's report", "")], lambda: never.pop())])
    assert pipeline.process_reports(db, ids) == 3
    assert db.url in pipeline._ahead_unused and db.url not in pipeline._ahead

    class Stage:  # the next round would look ahead here: it skips once, then looks again
        submitted: list[Any] = []

        def submit(self, items: list[Any]) -> Any:
            self.submitted.append(items)
            return lambda: ([], None)

    stage = Stage()
    more = intake.submit_report(db, settings, intake.ReportInput(category="rumor", text="look ahead later"),
                                client_key="10.0.3.1").report_id
    pipeline._look_ahead(db, stage, ids[-1], 1)  # type: ignore[arg-type]
    assert stage.submitted == [] and db.url not in pipeline._ahead_unused
    pipeline._look_ahead(db, stage, ids[-1], 1)  # type: ignore[arg-type]
    assert [rid for rid, _, _ in stage.submitted[0]] == [more]
    pipeline._ahead.pop(db.url, None)
    assert analysis.HELPER_MIN_REPORTS > 3  # the rounds above were analysed in the worker's thread
