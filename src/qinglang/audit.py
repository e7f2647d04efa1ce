"""The audit log: every state-changing operation appends one event, chained by SHA-256.

hash_n = sha256(hash_{n-1} || canonical JSON of event n), so editing or deleting an earlier row breaks every
later link; `verify()` finds the first break. Never update or delete audit rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from qinglang.store.models import AuditEvent

GENESIS = "0" * 64
_HEAD = "qinglang.audit.head"


def _digest(prev_hash: str, ts: datetime, actor: str, action: str, object_type: str, object_id: str,
            summary: dict[str, Any]) -> str:
    body = json.dumps(
        {"ts": ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor": actor, "action": action,
         "object_type": object_type, "object_id": object_id, "summary": summary},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def record(session: Session, *, actor: str, action: str, object_type: str, object_id: object,
           summary: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event in the caller's transaction (so it commits or rolls back with the change).

    The chain head is read once per transaction and then kept in `session.info`: the transaction holds the
    only write lock (SQLite) or the audit advisory lock (PostgreSQL) until it ends, so nobody else can append.
    """
    ev = AuditEvent(**_event(session, actor, action, object_type, object_id, summary))
    session.add(ev)
    return ev


def _event(session: Session, actor: str, action: str, object_type: str, object_id: object,
           summary: dict[str, Any] | None) -> dict[str, Any]:
    """The next event's column values, chained onto the transaction's head (which it then becomes)."""
    prev = session.info.get(_HEAD)
    if prev is None:
        if session.get_bind().dialect.name == "postgresql":
            # Serialise appenders so two transactions never chain onto the same predecessor.
            session.execute(text("SELECT pg_advisory_xact_lock(7411001)"))
        prev = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar() or GENESIS
    ts = datetime.now(UTC)
    summ = _plain(summary or {})
    digest = _digest(prev, ts, actor, action, object_type, str(object_id), summ)
    session.info[_HEAD] = digest
    return {"ts": ts, "actor": actor, "action": action, "object_type": object_type, "object_id": str(object_id),
            "summary": summ, "prev_hash": prev, "hash": digest}


_SCALARS = (str, int, float, bool, type(None))


def _plain(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as its stored JSON reads back (dates and other objects as strings): a copy when every value
    is already a JSON scalar under a string key (the pipeline's two events per report), else a JSON round trip."""
    if all(type(k) is str and type(v) in _SCALARS for k, v in summary.items()):
        return dict(summary)
    return json.loads(json.dumps(summary, ensure_ascii=False, default=str))


class Batch:
    """Events of a batch writer (the report pipeline), inserted together by `write` (one executemany instead of
    an ORM object each). They chain like `record`'s; `write` before anything else in the transaction records."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._rows: list[dict[str, Any]] = []

    def add(self, *, actor: str, action: str, object_type: str, object_id: object,
            summary: dict[str, Any] | None = None) -> None:
        self._rows.append(_event(self._session, actor, action, object_type, object_id, summary))

    def write(self) -> None:
        if self._rows:
            self._session.execute(insert(AuditEvent), self._rows)
            self._rows = []


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the chain in id order; report the first event whose link or content does not check out."""
    prev = GENESIS
    last_id = 0
    checked = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).scalars().all()
        if not rows:
            return VerifyResult(True, checked)
        for ev in rows:
            if ev.prev_hash != prev:
                return VerifyResult(False, checked, ev.id, "prev_hash does not match the previous event "
                                    "(an event was deleted, inserted or reordered)")
            expected = _digest(ev.prev_hash, ev.ts, ev.actor, ev.action, ev.object_type, ev.object_id,
                               ev.summary)
            if expected != ev.hash:
                return VerifyResult(False, checked, ev.id, "content does not match its hash (the row was edited)")
            prev = ev.hash
            last_id = ev.id
            checked += 1
        session.expunge_all()
