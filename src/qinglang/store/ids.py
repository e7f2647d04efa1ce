"""Primary keys handed out inside a write transaction, so a batch can create related rows without a flush each.

SQLite: the transaction holds the database's only write lock (``BEGIN IMMEDIATE``), so ``max(id) + 1`` onwards
is exactly what SQLite would assign. PostgreSQL: a block of values from the column's sequence (unused ones
leave a gap, as a rolled-back insert does).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session


class IdBlock:
    """``next()`` returns a fresh primary key of ``model``'s table for rows added in ``session``'s transaction."""

    def __init__(self, session: Session, model: Any, *, block: int = 32) -> None:
        self._session, self._model, self._block = session, model, max(1, block)
        self._free: list[int] = []
        self._next: int | None = None  # SQLite counter
        self._sqlite = session.get_bind().dialect.name == "sqlite"

    def next(self) -> int:
        if self._sqlite:
            if self._next is None:
                self._next = int(self._session.execute(select(func.max(self._model.id))).scalar() or 0) + 1
            value, self._next = self._next, self._next + 1
            return value
        if not self._free:
            table = self._model.__table__.name
            self._free = [int(v) for v in self._session.execute(
                text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                {"t": table, "n": self._block}).scalars()][::-1]
        return self._free.pop()
