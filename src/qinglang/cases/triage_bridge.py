"""Glue between the pipeline and the triage/indicator domain code: run analysis for a batch of reports and
store indicators as entities that link cases (one phone number across many reports is one fraud network).

Blocklist hits are checked against the database's blocklist entries at link time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qinglang.store.models import BlocklistEntry, Case, CaseIndicator, Indicator, Report
from qinglang.text import indicators as ind


def analyze_reports(texts: list[str], descriptions: list[str]) -> list[dict[str, Any] | None]:
    out: list[dict[str, Any] | None] = []
    for text, _desc in zip(texts, descriptions, strict=True):
        found = ind.extract(text) if text else []
        out.append({"indicators": [{"kind": i.kind, "value": i.value, "raw": i.raw} for i in found]}
                   if found else None)
    return _add_classifiers(texts, out)


def _add_classifiers(texts: list[str], out: list[dict[str, Any] | None]) -> list[dict[str, Any] | None]:
    return out


def blocklist_entries(session: Session) -> list[ind.BlocklistEntry]:
    now = datetime.now(UTC)
    rows = session.execute(select(BlocklistEntry)).scalars()
    return [ind.BlocklistEntry(kind=r.kind, value=r.value, source=r.source, reason=r.reason, expires_at=r.expires_at)
            for r in rows if r.expires_at is None or r.expires_at > now]


def link_indicators(session: Session, case: Case, report: Report, items: list[dict[str, Any]]) -> None:
    if not items:
        return
    objs = [ind.Indicator(kind=i["kind"], value=i["value"], raw=i.get("raw", i["value"]), span=(0, 0)) for i in items]
    hits = ind.match_blocklist(objs, blocklist_entries(session))
    if hits:
        tri = dict(case.triage or {})
        tri["blocklist_hits"] = [{"kind": h.indicator.kind, "value": h.indicator.value,
                                  "listed": f"{h.entry.kind}:{h.entry.value}", "source": h.entry.source,
                                  "reason": h.entry.reason} for h in hits]
        case.triage = tri
    for i in objs:
        row = session.execute(select(Indicator).where(Indicator.kind == i.kind, Indicator.value == i.value)
                              ).scalar_one_or_none()
        if row is None:
            row = Indicator(kind=i.kind, value=i.value)
            session.add(row)
            session.flush()
        exists = session.execute(select(CaseIndicator.id).where(CaseIndicator.case_id == case.id,
                                                               CaseIndicator.indicator_id == row.id)).first()
        if not exists:
            session.add(CaseIndicator(case_id=case.id, indicator_id=row.id, report_id=report.id))
    session.flush()
