"""`GET /v1/stats/transparency`: the transparency page's numbers as JSON (public, counts only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from qinglang.api.deps import DB
from qinglang.stats.transparency import transparency

router = APIRouter(prefix="/v1/stats", tags=["stats"])


@router.get("/transparency")
def transparency_stats(db: DB, months: Annotated[int, Query(ge=1, le=36)] = 12) -> dict[str, Any]:
    with db.read() as s:
        return transparency(s, months=months)
