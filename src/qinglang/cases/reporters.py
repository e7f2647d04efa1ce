"""Reporter history for trust: per reporter key, reports that joined a case and reports rejected, as counters.

The pipeline adds to ``reports`` when it attaches reports to cases; a "no violation" decision moves the case's
reports to ``rejected``. Both happen in the transaction that makes the change, so the counters always agree
with the reports table (the migration that created them back-filled them from it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from qinglang.store.models import ReporterStats


def _upsert(session: Session, column: str, counts: Counter[str]) -> None:
    if not counts:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(ReporterStats)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ReporterStats.reporter_key],
        set_={column: getattr(ReporterStats, column) + getattr(stmt.excluded, column)})
    # Sorted keys: two transactions touching the same reporters take their row locks in the same order.
    rows = [{"reporter_key": k, "reports": 0, "rejected": 0, column: n} for k, n in sorted(counts.items())]
    session.execute(stmt, rows)


def add_reports(session: Session, keys: Iterable[str]) -> None:
    """These reporters' reports (one key per report) just joined cases."""
    _upsert(session, "reports", Counter(keys))


def add_rejections(session: Session, keys: Iterable[str]) -> None:
    """These reporters' reports (one key per report, each counted once) were just rejected."""
    _upsert(session, "rejected", Counter(keys))


def history(session: Session, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
    """reporter key → (reports that joined a case, of which rejected); absent keys have no history."""
    keys = list(set(keys))
    out: dict[str, tuple[int, int]] = {}
    for k in range(0, len(keys), 500):
        for key, n, rejected in session.execute(
                select(ReporterStats.reporter_key, ReporterStats.reports, ReporterStats.rejected)
                .where(ReporterStats.reporter_key.in_(keys[k:k + 500]))):
            out[key] = (int(n), int(rejected))
    return out
