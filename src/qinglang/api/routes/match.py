"""POST /v1/match: ranked debunks for a text, each with a calibrated score, a band and an explanation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from qinglang.api.deps import DB
from qinglang.match.store_source import match_text

router = APIRouter(prefix="/v1", tags=["match"])


class MatchIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)
    lang: str | None = Field(None, pattern="^(zh|en)$", description="language for names in the answer")
    top_k: int = Field(5, ge=1, le=50)
    date: str | None = Field(None, max_length=40, description="when the text was posted (YYYY-MM-DD), if known")


@router.post("/match")
def match(body: MatchIn, db: DB) -> dict[str, Any]:
    results = match_text(db, body.text, top_k=body.top_k, lang=body.lang or "en", date=body.date)
    return {"results": [{"debunk_id": r["debunk_id"], "claim": r["debunk"]["claim"],
                         "verdict": r["debunk"]["verdict"], "summary": r["debunk"]["summary"],
                         "url": f"/debunks/{r['debunk_id']}", "score": r["score"], "band": r["band"],
                         "explanation": r["explanation"], "matched_text": r["matched_text"]} for r in results]}
