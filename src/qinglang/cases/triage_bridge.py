"""Glue between the pipeline and the triage/indicator domain code: run analysis for a batch of reports and
store indicators as entities that link cases (one phone number across many reports is one fraud network).

Blocklist hits are checked against the database's blocklist entries at link time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from qinglang.settings import get_settings
from qinglang.store.models import BlocklistEntry, Case, CaseIndicator, Indicator, Report
from qinglang.text import indicators as ind
from qinglang.triage.analyze import Triage, default_triage
from qinglang.triage.models import load_models


@lru_cache(maxsize=4)
def _triage_for(path: str) -> Triage:
    return Triage(load_models(path)) if path else default_triage()


def _triage() -> Triage:
    """The configured triage models: a retrained bundle (QINGLANG_TRIAGE_MODEL) or the shipped one."""
    return _triage_for(get_settings().triage_model)


def analyze_reports(texts: list[str], descriptions: list[str]) -> list[dict[str, Any] | None]:
    """Categories with probabilities, detector scores with reasons, and indicators, per report.

    The classifiers read the reported content, or the reporter's description when no content was given;
    indicators come from the content only (a reporter's own phone number is not the scammer's).
    """
    inputs = [t.strip() or d.strip() for t, d in zip(texts, descriptions, strict=True)]
    idx = [i for i, t in enumerate(inputs) if t]
    out: list[dict[str, Any] | None] = [None] * len(inputs)
    if not idx:
        return out
    for i, res in zip(idx, _triage().analyze_many([inputs[i] for i in idx], indicators=False), strict=True):
        found = ind.extract(texts[i]) if texts[i].strip() else []
        out[i] = {
            "lang": res.lang,
            "categories": {k: round(float(v), 4) for k, v in sorted(res.categories.items(), key=lambda kv: -kv[1])},
            "suggested_category": res.top_category,
            "detectors": {name: {"score": round(float(d.score), 4), "reason": d.reason, "label": d.label,
                                 "advisory": d.advisory} for name, d in res.detectors.items()},
            "indicators": [{"kind": x.kind, "value": x.value, "raw": x.raw} for x in found],
        }
    return out


def blocklist_entries(session: Session) -> list[ind.BlocklistEntry]:
    now = datetime.now(UTC)
    rows = session.execute(select(BlocklistEntry)).scalars()
    return [ind.BlocklistEntry(kind=r.kind, value=r.value, source=r.source, reason=r.reason, expires_at=r.expires_at)
            for r in rows if r.expires_at is None or r.expires_at > now]


def link_indicators(session: Session, links: list[tuple[Case, Report, list[dict[str, Any]]]],
                    blocklist: list[ind.BlocklistEntry] | None = None) -> None:
    """Store the indicators of a batch of reports as entities linked to their cases (a few queries per batch),
    and note blocklist hits on the cases."""
    links = [x for x in links if x[2]]
    if not links:
        return
    entries = blocklist if blocklist is not None else blocklist_entries(session)
    pairs = {(i["kind"], i["value"]) for _, _, items in links for i in items}
    known = {(r.kind, r.value): r.id for r in session.execute(
        select(Indicator).where(tuple_(Indicator.kind, Indicator.value).in_(list(pairs)))).scalars()}
    fresh = [Indicator(kind=k, value=v) for k, v in pairs if (k, v) not in known]
    if fresh:
        session.add_all(fresh)
        session.flush()
        known.update({(r.kind, r.value): r.id for r in fresh})
    case_ids = {case.id for case, _, _ in links}
    linked = set(session.execute(select(CaseIndicator.case_id, CaseIndicator.indicator_id)
                                 .where(CaseIndicator.case_id.in_(case_ids))).all())
    for case, report, items in links:
        objs = [ind.Indicator(kind=i["kind"], value=i["value"], raw=i.get("raw", i["value"]), span=(0, 0))
                for i in items]
        hits = ind.match_blocklist(objs, entries)
        if hits:
            tri = dict(case.triage or {})
            seen = {(h["kind"], h["value"], h["listed"]) for h in tri.get("blocklist_hits", [])}
            new = [{"kind": h.indicator.kind, "value": h.indicator.value, "listed": f"{h.entry.kind}:{h.entry.value}",
                    "source": h.entry.source, "reason": h.entry.reason} for h in hits]
            tri["blocklist_hits"] = tri.get("blocklist_hits", []) + [
                h for h in new if (h["kind"], h["value"], h["listed"]) not in seen]
            case.triage = tri
        for o in objs:
            key = (case.id, known[(o.kind, o.value)])
            if key not in linked:
                session.add(CaseIndicator(case_id=case.id, indicator_id=key[1], report_id=report.id))
                linked.add(key)
