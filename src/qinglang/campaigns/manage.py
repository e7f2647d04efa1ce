"""Create, list and end campaigns. While a campaign runs, new cases in its categories carry its boost in their
priority and may be routed by campaign-specific rules. Every change is audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qinglang import audit
from qinglang.errors import Conflict, Invalid, NotFound
from qinglang.store.models import Campaign, Case, Decision
from qinglang.taxonomy import CATEGORY_CODES, check_code


def create(session: Session, *, actor: str, key: str, name_zh: str, name_en: str, categories: list[str],
           starts_at: datetime, ends_at: datetime, boost: float = 1.5, created_by: int | None = None) -> Campaign:
    if not re.match(r"^[a-z0-9][a-z0-9_-]{1,63}$", key):
        raise Invalid("key must be 2-64 lower-case letters, digits, '-' or '_'", field="key")
    if not categories:
        raise Invalid("a campaign focuses on at least one category", field="categories")
    for code in categories:
        check_code(code, CATEGORY_CODES, field="categories")
    if ends_at <= starts_at:
        raise Invalid("ends_at must be after starts_at", field="ends_at")
    if not 1.0 <= boost <= 5.0:
        raise Invalid("boost must be between 1 and 5", field="boost")
    if session.execute(select(Campaign.id).where(Campaign.key == key)).first():
        raise Conflict(f"campaign {key!r} exists", field="key")
    c = Campaign(key=key, name_zh=name_zh.strip(), name_en=name_en.strip(), categories=categories, boost=boost,
                 starts_at=starts_at, ends_at=ends_at, created_by=created_by)
    session.add(c)
    session.flush()
    audit.record(session, actor=actor, action="campaign.create", object_type="campaign", object_id=c.id,
                 summary={"key": key, "categories": categories, "boost": boost, "starts_at": starts_at,
                          "ends_at": ends_at})
    return c


def end(session: Session, *, actor: str, key: str) -> Campaign:
    c = session.execute(select(Campaign).where(Campaign.key == key)).scalar_one_or_none()
    if c is None:
        raise NotFound(f"campaign {key!r} not found")
    now = datetime.now(UTC)
    if c.ends_at <= now:
        raise Conflict("campaign has already ended", field="ends_at")
    c.ends_at = now
    audit.record(session, actor=actor, action="campaign.end", object_type="campaign", object_id=c.id, summary={})
    return c


def summary(session: Session, c: Campaign) -> dict[str, Any]:
    now = datetime.now(UTC)
    cases = int(session.execute(select(func.count()).select_from(Case).where(Case.campaign_id == c.id)).scalar_one())
    decided = int(session.execute(select(func.count(func.distinct(Decision.case_id))).join(Case)
                                  .where(Case.campaign_id == c.id)).scalar_one())
    return {"id": c.id, "key": c.key, "name_zh": c.name_zh, "name_en": c.name_en, "categories": c.categories,
            "boost": c.boost, "starts_at": c.starts_at.isoformat(), "ends_at": c.ends_at.isoformat(),
            "active": c.starts_at <= now <= c.ends_at, "cases": cases, "decided_cases": decided}
