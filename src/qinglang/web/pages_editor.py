"""Console debunk editor: list by status, create, edit (a new version), submit for review, review, correct, withdraw.

The registry enforces the workflow (a second person reviews); this module only parses forms and renders.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from qinglang.debunks import registry
from qinglang.errors import Conflict, Forbidden, Invalid
from qinglang.store.models import Organisation
from qinglang.taxonomy import DEBUNK_STATES, TOPICS, VERDICTS
from qinglang.web.render import app_db, check_csrf, pick_lang, redirect, render, require_console

router = APIRouter(prefix="/console/debunks", include_in_schema=False)


def parse_sources(text: str) -> list[dict[str, str]]:
    """One source a line: `url | title | publisher` (title and publisher optional)."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        out.append({"url": parts[0], "title": parts[1] if len(parts) > 1 else "",
                    "publisher": parts[2] if len(parts) > 2 else ""})
    return out


def sources_text(sources: list[dict[str, str]]) -> str:
    return "\n".join(" | ".join(x for x in (s.get("url", ""), s.get("title", ""), s.get("publisher", ""))).rstrip(" |")
                     for s in sources)


@router.get("", response_class=HTMLResponse)
def editor_list(request: Request, status: Annotated[str, Query(max_length=16)] = "in_review",
                q: Annotated[str, Query(max_length=200)] = "") -> Response:
    require_console(request, "debunks:read_unpublished")
    status = status if status in DEBUNK_STATES else "in_review"
    lang = pick_lang(request)
    with app_db(request).read() as s:
        rows, total = registry.search(s, registry.SearchFilters(q=q, statuses=(status,), limit=100))
        items = [registry.public_dict(d, lang) for d in rows]
    return render(request, "console/debunks.html", {"items": items, "total": total, "status": status, "q": q,
                                                    "states": DEBUNK_STATES})


def _form_ctx(request: Request, values: dict[str, Any], *, debunk: dict[str, Any] | None = None,
              error: str = "", field: str = "") -> dict[str, Any]:
    with app_db(request).read() as s:
        orgs = list(s.execute(select(Organisation).order_by(Organisation.key)).scalars())
    return {"values": values, "debunk": debunk, "error": error, "error_field": field, "verdicts": VERDICTS,
            "topics": TOPICS, "orgs": orgs}


@router.get("/new", response_class=HTMLResponse)
def new_form(request: Request) -> Response:
    p = require_console(request, "debunks:write")
    return render(request, "console/debunk_form.html", _form_ctx(request, {"lang": pick_lang(request),
                                                                          "org_id": p.org_id}))


def _input(claim: str, verdict: str, summary: str, explanation: str, lang: str, variants: str, sources: str,
           topics: list[str]) -> registry.DebunkInput:
    return registry.DebunkInput(claim=claim, verdict=verdict, summary=summary, explanation=explanation, lang=lang,
                                variants=[v.strip() for v in variants.splitlines() if v.strip()],
                                sources=parse_sources(sources), topics=topics)


Text = Annotated[str, Form(max_length=20000)]


@router.post("/new", response_class=HTMLResponse)
def create(request: Request, csrf: Annotated[str, Form()] = "", claim: Text = "", verdict: Text = "",
           summary: Text = "", explanation: Text = "", lang: Annotated[str, Form(max_length=2)] = "zh",
           variants: Text = "", sources: Text = "", topics: Annotated[list[str] | None, Form()] = None,
           org_id: Annotated[int | None, Form()] = None) -> Response:
    p = require_console(request, "debunks:write")
    check_csrf(request, csrf)
    data = _input(claim, verdict, summary, explanation, lang, variants, sources, topics or [])
    owner = p.org_id if p.role not in ("admin", "reviewer") or org_id is None else org_id
    try:
        if owner is None:
            raise Invalid("choose the publishing organisation", field="org_id")
        with app_db(request).write() as s:
            d = registry.create(s, p, data, org_id=owner)
            new_id = d.id
    except Invalid as exc:
        values = {**data.__dict__, "variants": variants, "sources": sources, "org_id": owner}
        return render(request, "console/debunk_form.html",
                      _form_ctx(request, values, error=exc.message, field=exc.field or ""), status=422)
    return redirect(f"/console/debunks/{new_id}?notice=saved")


@router.get("/{debunk_id}", response_class=HTMLResponse)
def edit_form(request: Request, debunk_id: int, notice: Annotated[str, Query(max_length=16)] = "") -> Response:
    require_console(request, "debunks:read_unpublished")
    lang = pick_lang(request)
    with app_db(request).read() as s:
        d = registry.get(s, debunk_id)
        pd = registry.public_dict(d, lang)
    values = {**pd, "variants": "\n".join(pd["variants"]), "sources": sources_text(pd["sources"])}
    ctx = _form_ctx(request, values, debunk=pd)
    ctx["notice"] = notice if notice in ("saved", "submitted", "reviewed", "withdrawn") else ""
    return render(request, "console/debunk_form.html", ctx)


@router.post("/{debunk_id}", response_class=HTMLResponse)
def save(request: Request, debunk_id: int, csrf: Annotated[str, Form()] = "", claim: Text = "",
         verdict: Text = "", summary: Text = "", explanation: Text = "",
         lang: Annotated[str, Form(max_length=2)] = "zh", variants: Text = "", sources: Text = "",
         topics: Annotated[list[str] | None, Form()] = None, note: Text = "") -> Response:
    """Edit a draft, or correct a published debunk (a correction needs a public note)."""
    p = require_console(request, "debunks:write")
    check_csrf(request, csrf)
    data = _input(claim, verdict, summary, explanation, lang, variants, sources, topics or [])
    try:
        with app_db(request).write() as s:
            status = registry.get(s, debunk_id).status
            if status in ("published", "corrected"):
                registry.correct(s, p, debunk_id, data, note=note)
            else:
                registry.edit(s, p, debunk_id, data, note=note)
    except (Invalid, Conflict, Forbidden) as exc:
        with app_db(request).read() as s:
            pd = registry.public_dict(registry.get(s, debunk_id), pick_lang(request))
        values = {**data.__dict__, "variants": variants, "sources": sources, "note": note}
        return render(request, "console/debunk_form.html",
                      _form_ctx(request, values, debunk=pd, error=exc.message, field=exc.field or ""),
                      status=exc.status)
    return redirect(f"/console/debunks/{debunk_id}?notice=saved")


@router.post("/{debunk_id}/submit")
def submit(request: Request, debunk_id: int, csrf: Annotated[str, Form()] = "") -> Response:
    p = require_console(request, "debunks:write")
    check_csrf(request, csrf)
    with app_db(request).write() as s:
        registry.submit(s, p, debunk_id)
    return redirect(f"/console/debunks/{debunk_id}?notice=submitted")


@router.post("/{debunk_id}/review")
def review(request: Request, debunk_id: int, csrf: Annotated[str, Form()] = "",
           decision: Annotated[str, Form(pattern="^(approve|reject)$")] = "approve", note: Text = "") -> Response:
    p = require_console(request, "debunks:review")
    check_csrf(request, csrf)
    with app_db(request).write() as s:
        registry.review(s, p, debunk_id, approve=decision == "approve", note=note)
    return redirect(f"/console/debunks/{debunk_id}?notice=reviewed")


@router.post("/{debunk_id}/withdraw")
def withdraw(request: Request, debunk_id: int, csrf: Annotated[str, Form()] = "", note: Text = "") -> Response:
    p = require_console(request, "debunks:write")
    check_csrf(request, csrf)
    with app_db(request).write() as s:
        registry.withdraw(s, p, debunk_id, note=note)
    return redirect(f"/console/debunks/{debunk_id}?notice=withdrawn")
