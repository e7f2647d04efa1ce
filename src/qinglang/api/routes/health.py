"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from qinglang.api.deps import DB
from qinglang.jobs import queue

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(db: DB, request: Request) -> JSONResponse:
    if not request.app.state.ready.is_set():
        return JSONResponse({"error": {"code": "not_ready", "message": "loading the claim index and models",
                                       "details": []}}, status_code=503)
    try:
        with db.read() as s:
            version = s.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        return JSONResponse({"error": {"code": "not_ready", "message": "database not migrated or unreachable",
                                       "details": []}}, status_code=503)
    from qinglang.match.store_source import holder

    # Readiness is about serving requests; the job backlog and this process's claim index (a process behind the
    # database's checkpoint answers from the index it has while it catches up) are reported, not judged.
    return JSONResponse({"status": "ready", "schema": version, "jobs": queue.backlog(db),
                         "claim_index": holder(db).state()})
