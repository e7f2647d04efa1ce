"""Case API for staff and org agents: list (scoped by the policy) and read one case."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from qinglang.api.deps import DB, CurrentPrincipal
from qinglang.auth.policy import require_case, scope_cases
from qinglang.cases import views
from qinglang.errors import NotFound
from qinglang.store.models import Case
from qinglang.taxonomy import CASE_STATE_CODES, CATEGORY_CODES

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.get("")
def list_cases(db: DB, p: CurrentPrincipal,
               state: Annotated[str | None, Query(pattern="^(" + "|".join(CASE_STATE_CODES) + ")$")] = None,
               category: Annotated[str | None, Query(pattern="^(" + "|".join(CATEGORY_CODES) + ")$")] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    q = scope_cases(p, select(Case))
    if state:
        q = q.where(Case.state == state)
    if category:
        q = q.where(Case.category == category)
    q = q.order_by(Case.priority.desc(), Case.id).limit(limit).offset(offset)
    with db.read() as s:
        return {"items": [views.case_summary(c) for c in s.execute(q).scalars()]}


@router.get("/{case_id}")
def get_case(case_id: int, db: DB, p: CurrentPrincipal,
             lang: Annotated[str, Query(pattern="^(zh|en)$")] = "en") -> dict[str, Any]:
    """The case with its reports and decisions. For those who may act on it while no debunk is linked,
    ``suggested_debunks``: published debunks the matcher finds for its content (bands match and possible), any of
    which a `label` decision may name (``lang``: the language of their public fields)."""
    with db.read() as s:
        case = s.get(Case, case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found")
        require_case(p, case)
        out = views.case_detail(s, case, p)
        text = views.content_text(case, out)
    suggestions = views.suggested_debunks(db, p, out["debunk_id"], text, lang)
    if suggestions is not None:
        out["suggested_debunks"] = suggestions
    return out
