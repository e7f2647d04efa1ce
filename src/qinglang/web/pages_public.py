"""Public pages: home, the debunk library (search, one debunk with ClaimReview JSON-LD, Atom feed), transparency.

Read-only: nothing here changes state. Only published or corrected debunks are shown to the public.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qinglang.debunks import registry
from qinglang.debunks.claimreview import claim_review
from qinglang.errors import NotFound
from qinglang.stats.transparency import transparency
from qinglang.store.models import Case, Debunk, Report
from qinglang.taxonomy import CATEGORIES, PUBLIC_DEBUNK_STATES, TOPICS, VERDICTS
from qinglang.web import charts
from qinglang.web.render import app_db, console_principal, pick_lang, render

router = APIRouter(include_in_schema=False)
PAGE = 20


def trending(session: Session, *, days: int = 7, limit: int = 5, lang: str = "en") -> list[dict[str, Any]]:
    """Debunked rumors that reports matched in the last `days` days, most reported first."""
    since = datetime.now(UTC) - timedelta(days=days)
    did = func.coalesce(Report.debunk_id, Case.debunk_id)
    rows = session.execute(
        select(did.label("debunk_id"), func.count(Report.id).label("n"))
        .select_from(Report).outerjoin(Case, Case.id == Report.case_id)
        .where(Report.created_at >= since, did.is_not(None))
        .group_by(did).order_by(func.count(Report.id).desc()).limit(limit)).all()
    out = []
    for debunk_id, n in rows:
        d = registry.get(session, int(debunk_id))
        if d.status in PUBLIC_DEBUNK_STATES:
            out.append({"debunk": registry.public_dict(d, lang), "reports": int(n)})
    return out


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    lang = pick_lang(request)
    with app_db(request).read() as s:
        latest, total = registry.search(s, registry.SearchFilters(limit=6))
        ctx = {"latest": [registry.public_dict(d, lang) for d in latest], "debunk_total": total,
               "trending": trending(s, lang=lang), "categories": CATEGORIES,
               "report_total": s.execute(select(func.count()).select_from(Report)).scalar_one()}
    return render(request, "home.html", ctx)


@router.get("/debunks", response_class=HTMLResponse)
def debunk_list(request: Request, q: Annotated[str, Query(max_length=500)] = "",
                mode: Annotated[str, Query(pattern="^(keyword|semantic)$")] = "keyword",
                verdict: Annotated[str, Query(max_length=20)] = "", topic: Annotated[str, Query(max_length=30)] = "",
                lang_filter: Annotated[str, Query(alias="in", pattern="^(|zh|en)$")] = "",
                page: Annotated[int, Query(ge=1, le=1000)] = 1) -> Response:
    lang = pick_lang(request)
    db = app_db(request)
    filters = registry.SearchFilters(q=q if mode == "keyword" else "", verdict=verdict or None,
                                     topic=topic or None, lang=lang_filter or None, limit=PAGE,
                                     offset=(page - 1) * PAGE)
    if mode == "semantic" and q.strip():
        from qinglang.match.store_source import semantic_debunk_ids

        ids = semantic_debunk_ids(db, q, limit=PAGE * page)
        with db.read() as s:
            found = [registry.get(s, i) for i in ids[(page - 1) * PAGE:]]
            items = [registry.public_dict(d, lang) for d in found if d.status in PUBLIC_DEBUNK_STATES
                     and (not verdict or registry.current(d).verdict == verdict)
                     and (not lang_filter or d.lang == lang_filter)
                     and (not topic or topic in registry.current(d).topics)]
            total = len(ids)
    else:
        with db.read() as s:
            rows, total = registry.search(s, filters)
            items = [registry.public_dict(d, lang) for d in rows]
    return render(request, "debunks.html", {
        "items": items, "total": total, "q": q, "mode": mode, "verdict": verdict, "topic": topic,
        "in_lang": lang_filter, "page": page, "pages": max(1, -(-total // PAGE)), "verdicts": VERDICTS,
        "topics": TOPICS})


@router.get("/debunks/feed.atom")
def debunk_feed(request: Request) -> Response:
    lang = pick_lang(request)
    base = str(request.base_url).rstrip("/")
    with app_db(request).read() as s:
        rows, _ = registry.search(s, registry.SearchFilters(limit=50))
        items = [registry.public_dict(d, lang) for d in rows]
    updated = max((i["updated_at"] for i in items), default=datetime.now(UTC).isoformat())
    title = "清朗 · 辟谣" if lang == "zh" else "Qinglang debunks"
    parts = ['<?xml version="1.0" encoding="utf-8"?>',
             f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{"zh-CN" if lang == "zh" else "en"}">',
             f"<title>{escape(title)}</title>", f"<id>{escape(base)}/debunks</id>",
             f'<link rel="self" href="{escape(base)}/debunks/feed.atom"/>',
             f'<link href="{escape(base)}/debunks"/>', f"<updated>{escape(updated)}</updated>"]
    for i in items:
        url = f"{base}/debunks/{i['id']}"
        org = i["organisation"]["name"] if i["organisation"] else ""
        verdict = next((v.name(lang) for v in VERDICTS if v.code == i["verdict"]), i["verdict"])
        parts += ["<entry>", f"<id>{escape(url)}</id>", f'<link href="{escape(url)}"/>',
                  f"<title>[{escape(verdict)}] {escape(i['claim'])}</title>",
                  f"<updated>{escape(i['updated_at'])}</updated>",
                  f"<published>{escape(i['published_at'] or i['updated_at'])}</published>",
                  f"<author><name>{escape(org)}</name></author>",
                  f"<summary>{escape(i['summary'])}</summary>", "</entry>"]
    parts.append("</feed>")
    return Response("\n".join(parts), media_type="application/atom+xml; charset=utf-8")


@router.get("/debunks/{debunk_id}", response_class=HTMLResponse)
def debunk_page(request: Request, debunk_id: int) -> Response:
    lang = pick_lang(request)
    staff = console_principal(request)
    with app_db(request).read() as s:
        d = registry.get(s, debunk_id)
        if d.status not in PUBLIC_DEBUNK_STATES and not (staff and _may_preview(staff)):
            raise NotFound(f"debunk {debunk_id} not found")
        ctx = {"d": registry.public_dict(d, lang), "versions": [
            {"version": v.version, "note": v.note, "at": v.created_at, "verdict": v.verdict} for v in d.versions],
            "claim_review": claim_review(d, str(request.base_url)) if d.status in PUBLIC_DEBUNK_STATES else None,
            "public": d.status in PUBLIC_DEBUNK_STATES}
    return render(request, "debunk.html", ctx)


def _may_preview(p: Any) -> bool:
    from qinglang.auth.policy import has

    return has(p, "debunks:read_unpublished")


@router.get("/transparency", response_class=HTMLResponse)
def transparency_page(request: Request) -> Response:
    lang = pick_lang(request)
    with app_db(request).read() as s:
        stats = transparency(s)
    return render(request, "transparency.html", {
        "stats": stats, "monthly": charts.stacked_months(stats, lang),
        "outcome_bars": charts.hbars(stats["outcomes"], lang, kind="action"),
        "category_bars": charts.hbars(stats["reports_by_category"], lang, kind="category"),
        "debunk_count": _public_debunks(request)})


def _public_debunks(request: Request) -> int:
    with app_db(request).read() as s:
        return int(s.execute(select(func.count()).select_from(Debunk)
                             .where(Debunk.status.in_(PUBLIC_DEBUNK_STATES))).scalar_one())
