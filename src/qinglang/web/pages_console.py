"""Console pages for reviewers and organisation agents: login, the prioritised queue, a case, claim and decide.

Every POST checks the session's CSRF token; every case read goes through the authorization policy. Reporter
contact data is never shown here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from qinglang import accounts
from qinglang.api.deps import SESSION_COOKIE
from qinglang.auth.policy import Principal, has, require_case, scope_cases
from qinglang.cases import views
from qinglang.debunks import registry
from qinglang.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from qinglang.store.models import (
    Appeal,
    AuditEvent,
    Campaign,
    Case,
    CaseIndicator,
    Indicator,
    Organisation,
    Report,
    User,
)
from qinglang.taxonomy import ACTIONS, CATEGORIES, OPEN_CASE_STATES
from qinglang.web.render import (
    app_db,
    app_settings,
    check_csrf,
    console_principal,
    pick_lang,
    redirect,
    render,
    require_console,
)

router = APIRouter(prefix="/console", include_in_schema=False)
NOTICES = ("claimed", "decided", "appeal_decided", "logged_out")
DUE_SOON = timedelta(hours=6)  # the same window as workflow.queue(sla="due_soon")


def _safe_next(nxt: str) -> str:
    return nxt if nxt.startswith("/console") and not nxt.startswith("//") else "/console"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: Annotated[str, Query(max_length=500)] = "/console") -> Response:
    if console_principal(request) is not None:
        return redirect(_safe_next(next))
    return render(request, "console/login.html", {"next": _safe_next(next), "error": ""})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, username: Annotated[str, Form(max_length=64)] = "",
          password: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=500)] = "/console") -> Response:
    try:
        with app_db(request).write() as s:
            _, cookie, _ = accounts.login(s, username=username, password=password)
    except Unauthorized:
        return render(request, "console/login.html", {"next": _safe_next(next), "error": "login_failed",
                                                      "username": username}, status=401)
    response = redirect(_safe_next(next))
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax",
                        secure=app_settings(request).cookie_secure, max_age=int(accounts.SESSION_TTL.total_seconds()),
                        path="/")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    with app_db(request).write() as s:
        accounts.logout(s, request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/console/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, category: Annotated[str, Query(max_length=32)] = "",
               campaign: Annotated[int | None, Query(ge=1)] = None, org: Annotated[int | None, Query(ge=1)] = None,
               sla: Annotated[str, Query(pattern="^(|due_soon|overdue)$")] = "",
               page: Annotated[int, Query(ge=1, le=1000)] = 1) -> Response:
    p = require_console(request)
    if not has(p, "cases:read"):
        return redirect("/console/debunks")
    from qinglang.cases import workflow

    per_page = 50
    with app_db(request).read() as s:
        cases = workflow.queue(s, p, category=category or None, campaign_id=campaign, org_id=org,
                               sla=sla or None, limit=per_page + 1, offset=(page - 1) * per_page)
        orgs = {o.id: o for o in s.execute(select(Organisation).order_by(Organisation.key)).scalars()}
        users = {u.id: u.username for u in s.execute(select(User)).scalars()}
        first_text: dict[int, str] = {}
        for case_id, text in s.execute(select(Report.case_id, Report.text)
                                       .where(Report.case_id.in_([c.id for c in cases])).order_by(Report.id)):
            if text and case_id is not None and case_id not in first_text:
                first_text[case_id] = text
        ctx = {"cases": [_row(c, orgs, users, first_text.get(c.id, "")) for c in cases[:per_page]],
               "more": len(cases) > per_page,
               "page": page, "categories": CATEGORIES, "orgs": list(orgs.values()),
               "campaigns": list(s.execute(select(Campaign).order_by(Campaign.starts_at.desc())).scalars()),
               "f": {"category": category, "campaign": campaign, "org": org, "sla": sla}}
    return render(request, "console/queue.html", ctx)


def _row(c: Case, orgs: dict[int, Organisation], users: dict[int, str], report_text: str) -> dict[str, Any]:
    row = views.case_summary(c)
    row["org"] = orgs.get(c.org_id) if c.org_id else None
    row["claimed_by_name"] = users.get(c.claimed_by) if c.claimed_by else None
    row["due_at_dt"] = c.due_at
    now = datetime.now(UTC)
    row["overdue"] = c.overdue or (c.due_at is not None and c.due_at < now)
    row["due_soon"] = not row["overdue"] and c.due_at is not None and c.due_at < now + DUE_SOON
    text = (c.content.text if c.content else "") or report_text or c.canonical_url or ""
    row["snippet"] = text[:90] + ("…" if len(text) > 90 else "")
    return row


def case_page_context(request: Request, p: Principal, case_id: int) -> dict[str, Any]:
    """`case_context`, and for staff who act on a case with no debunk linked, the published debunks the matcher
    finds for its content in the bands `match` and `possible` (`possible` is meant for exactly this reader), so a
    label can name one."""
    db, lang = app_db(request), pick_lang(request)
    with db.read() as s:
        ctx = case_context(s, p, case_id, lang)
    ctx["suggestions"] = views.suggested_debunks(db, p, ctx["detail"]["debunk_id"], ctx["text"], lang) or []
    return ctx


def case_context(s: Session, p: Principal, case_id: int, lang: str) -> dict[str, Any]:
    case = s.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    require_case(p, case)
    detail = views.case_detail(s, case, p)
    indicators = s.execute(select(Indicator).join(CaseIndicator, CaseIndicator.indicator_id == Indicator.id)
                           .where(CaseIndicator.case_id == case.id).distinct()).scalars().all()
    linked: list[Case] = []
    if indicators:
        q = (select(Case).join(CaseIndicator, CaseIndicator.case_id == Case.id)
             .where(CaseIndicator.indicator_id.in_([i.id for i in indicators]), Case.id != case.id).distinct()
             .order_by(Case.priority.desc()).limit(20))
        linked = list(s.execute(scope_cases(p, q)).scalars())
    report_ids = [str(r["id"]) for r in detail["reports"]]
    history = s.execute(select(AuditEvent).where(or_(
        and_(AuditEvent.object_type == "case", AuditEvent.object_id == str(case.id)),
        and_(AuditEvent.object_type == "report", AuditEvent.object_id.in_(report_ids))))
        .order_by(AuditEvent.id)).scalars().all()
    orgs = list(s.execute(select(Organisation).order_by(Organisation.key)).scalars())
    org_names = {o.id: o.name(lang) for o in orgs}
    appeals = s.execute(select(Appeal).where(Appeal.case_id == case.id).order_by(Appeal.id)).scalars().all()
    return {
        "case": case, "detail": detail, "content": case.content, "text": views.content_text(case, detail),
        "debunk": registry.public_dict(case.debunk, lang) if case.debunk else None,
        "indicators": indicators, "linked": linked, "history": history, "orgs": orgs, "org_names": org_names,
        "appeals": appeals, "actions": ACTIONS, "may_act": has(p, "cases:act"),
        "may_decide_appeals": has(p, "appeals:decide"),
        "claimed_by_name": s.execute(select(User.username).where(User.id == case.claimed_by)).scalar()
        if case.claimed_by else None,
        "errors": {}, "values": {},
        "overdue": case.overdue or (case.due_at is not None and case.due_at < datetime.now(UTC)
                                    and case.state in OPEN_CASE_STATES),
    }


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: int, notice: Annotated[str, Query(max_length=32)] = "") -> Response:
    p = require_console(request)

    ctx = case_page_context(request, p, case_id)
    ctx["notice"] = notice if notice in NOTICES else ""
    return render(request, "console/case.html", ctx)


@router.post("/cases/{case_id}/claim", response_class=HTMLResponse)
def claim(request: Request, case_id: int, csrf: Annotated[str, Form()] = "") -> Response:
    p = require_console(request, "cases:act")
    check_csrf(request, csrf)
    from qinglang.cases import workflow

    try:
        workflow.claim(app_db(request), p, case_id)
    except Conflict as exc:  # someone else claimed it first: show the case and who holds it
        ctx = case_page_context(request, p, case_id)
        ctx["errors"] = {exc.field or "form": exc.message}
        return render(request, "console/case.html", ctx, status=exc.status)
    return redirect(f"/console/cases/{case_id}?notice=claimed")


@router.post("/cases/{case_id}/decide", response_class=HTMLResponse)
def decide(request: Request, case_id: int, csrf: Annotated[str, Form()] = "",
           action: Annotated[str, Form(max_length=32)] = "", ground: Annotated[str, Form(max_length=5000)] = "",
           facts: Annotated[str, Form(max_length=5000)] = "", refer_to: Annotated[str, Form(max_length=64)] = "",
           debunk_id: Annotated[str, Form(max_length=12)] = "",
           automated_detection: Annotated[str, Form(max_length=5)] = "") -> Response:
    p = require_console(request, "cases:act")
    check_csrf(request, csrf)
    from qinglang.cases import workflow

    try:
        if debunk_id.strip() and not debunk_id.strip().isdigit():
            raise Invalid("debunk must be a debunk number", field="debunk_id")
        workflow.decide(app_db(request), p, case_id, action=action, ground=ground, facts=facts,
                        automated_detection=bool(automated_detection), refer_to=refer_to or None,
                        debunk_id=int(debunk_id) if debunk_id.strip() else None)
    except (Invalid, Conflict) as exc:
        ctx = case_page_context(request, p, case_id)
        ctx["errors"] = {exc.field or "form": exc.message}
        ctx["values"] = {"action": action, "ground": ground, "facts": facts, "refer_to": refer_to,
                         "debunk_id": debunk_id}
        return render(request, "console/case.html", ctx, status=exc.status)
    return redirect(f"/console/cases/{case_id}?notice=decided")


@router.post("/appeals/{appeal_id}/decide", response_class=HTMLResponse)
def decide_appeal(request: Request, appeal_id: int, csrf: Annotated[str, Form()] = "",
                  outcome: Annotated[str, Form(pattern="^(upheld|reversed)$")] = "upheld",
                  reasons: Annotated[str, Form(max_length=5000)] = "") -> Response:
    p = require_console(request, "appeals:decide")
    check_csrf(request, csrf)
    from qinglang.cases import workflow


    try:
        appeal = workflow.decide_appeal(app_db(request), p, appeal_id, outcome=outcome, reasons=reasons)
    except (Invalid, Conflict, Forbidden) as exc:
        with app_db(request).read() as s:
            row = s.get(Appeal, appeal_id)
            if row is None:
                raise NotFound(f"appeal {appeal_id} not found") from None
            case_id = row.case_id
        ctx = case_page_context(request, p, case_id)
        ctx["errors"] = {exc.field or "form": exc.message}
        return render(request, "console/case.html", ctx, status=exc.status)
    return redirect(f"/console/cases/{appeal.case_id}?notice=appeal_decided")
