"""On SQLite the pipeline keeps its write transactions small while reports pour in, and large once they stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from qinglang.cases import intake, pipeline
from qinglang.store.models import Report


def test_write_step_follows_the_arrival_rate(db: Any, settings: Any) -> None:
    assert pipeline._write_step(db) == pipeline.WRITE_CHUNK  # no reports at all
    for i in range(pipeline.BUSY_ARRIVALS_PER_SECOND + 5):
        intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=f"flood {i}"), client_key="x")
    assert pipeline._write_step(db) == pipeline.BUSY_WRITE_CHUNK  # 25 reports within the last second
    with db.write() as s:
        s.execute(update(Report).values(created_at=datetime.now(UTC) - timedelta(seconds=30)))
    assert pipeline._write_step(db) == pipeline.WRITE_CHUNK  # the flood is over
