"""When this machine's API processes last received a report: the modification time of a small file beside the
database, set by intake as submissions arrive and read by the report pipeline.

The pipeline throttles itself while reports pour in (`pipeline._intake_busy`): on SQLite its writes and intake's
commits share one lock, and on either backend its analysis shares the cores with the API. It reads a flood from
the reports table, where arrivals show only once committed, so it keeps a one-second window: shorter, and a
flood that waits behind the pipeline's own write transaction looks like one that ended (session 8 tried 0.2 s: the
pipeline then took the lock and the cores, and intake stalled for seconds). The cost is the second after every
flood, which the backlog spent waiting on two idle cores. The mark here is set when a submission arrives, before
its commit, so no write transaction can hold it back: once it is QUIET_AFTER old, the flood is over.

Writing it costs one `utime` per TOUCH_EVERY at most. A machine whose API runs elsewhere (PostgreSQL, API and
workers on different hosts) has a stale mark or none: stale reads as quiet, which is right there (its cores are
not shared with intake), and a missing mark leaves the decision to the reports table.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from qinglang.store.db import Database

TOUCH_EVERY = 0.05  # seconds between two marks of one process
QUIET_AFTER = 0.25  # seconds without a mark: no report is arriving on this machine

_last_touch: dict[str, float] = {}


def mark_path(db: Database) -> Path:
    """Beside an SQLite file (as its write lock is); in the data directory for other databases."""
    if db.is_sqlite:
        path = make_url(db.url).database
        if path and path != ":memory:":
            return Path(f"{path}.arrivals")
    from qinglang.settings import get_settings

    return get_settings().data_dir / "intake.arrivals"


def arrived(db: Database) -> None:
    """A report submission arrived (called before its commit)."""
    now = time.monotonic()
    if now - _last_touch.get(db.url, -TOUCH_EVERY) < TOUCH_EVERY:
        return
    _last_touch[db.url] = now
    path = mark_path(db)
    try:
        os.utime(path)
    except FileNotFoundError:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError:
            pass
    except OSError:  # a mark not set only leaves the decision to the reports table
        pass


def quiet(db: Database) -> bool:
    """No report has arrived on this machine for QUIET_AFTER seconds (False when no mark was ever set)."""
    try:
        age = time.time() - os.stat(mark_path(db)).st_mtime
    except OSError:
        return False
    return age > QUIET_AFTER
