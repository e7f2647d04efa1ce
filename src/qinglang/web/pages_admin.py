"""Console admin pages: organisations, users, API tokens (shown once), routing rules, blocklists and hash banks.

Every change is authorized by the policy and recorded in the audit chain. A new token's plaintext is rendered
exactly once, in the response to the POST that created it, and never stored or redirected through a URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from qinglang import accounts
from qinglang.auth.policy import authorize, has
from qinglang.cases import intel
from qinglang.cases.routing import add_rule
from qinglang.errors import Conflict, Invalid, NotFound
from qinglang.media import bank as mbank
from qinglang.store.models import (
    ApiToken,
    BlocklistEntry,
    HashBank,
    HashBankEntry,
    Organisation,
    RoutingRule,
    User,
)
from qinglang.taxonomy import CATEGORIES, ORG_KINDS, ROLES
from qinglang.web.render import app_db, app_settings, check_csrf, redirect, render, require_console

router = APIRouter(prefix="/console/admin", include_in_schema=False)
SECTIONS = {"orgs": "orgs:write", "users": "users:write", "tokens": "tokens:write", "routing": "routing:write",
            "blocklists": "blocklists:write", "hashbanks": "hashbanks:write"}
SIGNAL_TYPES = mbank.SIGNAL_TYPES
Field = Annotated[str, Form(max_length=500)]


def _section_ctx(s: Session, section: str) -> dict[str, Any]:
    orgs = list(s.execute(select(Organisation).order_by(Organisation.key)).scalars())
    ctx: dict[str, Any] = {"section": section, "orgs": orgs, "org_by_id": {o.id: o for o in orgs},
                           "kinds": ORG_KINDS, "roles": ROLES, "categories": CATEGORIES,
                           "block_kinds": intel.BLOCKLIST_KINDS, "signal_types": SIGNAL_TYPES,
                           "policies": intel.POLICIES}
    if section == "users":
        ctx["users"] = list(s.execute(select(User).order_by(User.username)).scalars())
    elif section == "tokens":
        ctx["users"] = list(s.execute(select(User).order_by(User.username)).scalars())
        ctx["tokens"] = list(s.execute(select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
                                       .order_by(ApiToken.id.desc()).limit(200)).all())
    elif section == "routing":
        ctx["rules"] = list(s.execute(select(RoutingRule).order_by(RoutingRule.priority.desc(),
                                                                   RoutingRule.id)).scalars())
    elif section == "blocklists":
        ctx["entries"] = list(s.execute(select(BlocklistEntry).order_by(BlocklistEntry.id.desc()).limit(500))
                              .scalars())
    elif section == "hashbanks":
        ctx["banks"] = list(s.execute(select(HashBank).order_by(HashBank.name)).scalars())
        ctx["hashes"] = list(s.execute(select(HashBankEntry).order_by(HashBankEntry.id.desc()).limit(500))
                             .scalars())
    return ctx


def _page(request: Request, section: str, *, extra: dict[str, Any] | None = None, status: int = 200) -> Response:
    with app_db(request).read() as s:
        ctx = _section_ctx(s, section)
    ctx["sections"] = [k for k, perm in SECTIONS.items() if has(request.state.console_principal, perm)]
    ctx.update(extra or {})
    return render(request, "console/admin.html", ctx, status=status)


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request) -> Response:
    p = require_console(request)
    allowed = [k for k, perm in SECTIONS.items() if has(p, perm)]
    if not allowed:
        authorize(p, "orgs:write")
    return redirect(f"/console/admin/{allowed[0]}")


@router.get("/{section}", response_class=HTMLResponse)
def admin_section(request: Request, section: str) -> Response:
    if section not in SECTIONS:
        raise NotFound(f"no admin page {section!r}")
    require_console(request, SECTIONS[section])
    return _page(request, section)


@router.post("/{section}", response_class=HTMLResponse)
def admin_post(request: Request, section: str, csrf: Annotated[str, Form()] = "", op: Field = "add",
               key: Field = "", kind: Field = "", name_zh: Field = "", name_en: Field = "", username: Field = "",
               role: Field = "", password: Field = "", org: Field = "", name: Field = "", days: Field = "",
               trusted_flagger: Field = "", category: Field = "", domain: Field = "", region: Field = "",
               priority: Field = "0", value: Field = "", source: Field = "", reason: Field = "",
               row_id: Field = "", action_policy: Field = "review", bank_id: Field = "",
               signal_type: Field = "", labels: Field = "") -> Response:
    if section not in SECTIONS:
        raise NotFound(f"no admin page {section!r}")
    p = require_console(request, SECTIONS[section])
    check_csrf(request, csrf)
    shown: dict[str, Any] = {}
    try:
        with app_db(request).write() as s:
            if section == "orgs":
                accounts.create_org(s, actor=p.label, key=key.strip(), kind=kind, name_zh=name_zh, name_en=name_en,
                                    secret=app_settings(request).secret())
            elif section == "users":
                accounts.create_user(s, actor=p.label, username=username.strip(), role=role,
                                     password=password or None, org=org or None)
            elif section == "tokens" and op == "revoke":
                accounts.revoke_token(s, actor=p.label, token_id=_int(row_id, "row_id"))
            elif section == "tokens":
                row, token = accounts.create_token(s, actor=p.label, username=username, name=name.strip(),
                                                   org=org or None, days=_int(days, "days") if days else None,
                                                   trusted_flagger=bool(trusted_flagger))
                shown = {"new_token": token, "new_token_prefix": row.prefix}
            elif section == "routing":
                add_rule(s, actor=p.label, org=org, category=category or None, domain=domain.strip() or None,
                         region=region.strip() or None, priority=_int(priority or "0", "priority"))
            elif section == "blocklists" and op == "remove":
                intel.remove_block(s, actor=p.label, entry_id=_int(row_id, "row_id"))
            elif section == "blocklists":
                intel.add_block(s, actor=p.label, kind=kind, value=value, source=source.strip() or p.username,
                                reason=reason, created_by=p.user_id)
            elif section == "hashbanks" and op == "remove":
                intel.remove_signal(s, actor=p.label, entry_id=_int(row_id, "row_id"))
            elif section == "hashbanks" and op == "bank":
                source_org = s.get(Organisation, p.org_id) if p.org_id else None
                intel.create_bank(s, actor=p.label, name=name, action_policy=action_policy,
                                  source_org=source_org.key if source_org else None)
            elif section == "hashbanks":
                intel.add_signal(s, actor=p.label, bank_id=_int(bank_id, "bank_id"), signal_type=signal_type,
                                 value=value, labels=[x.strip() for x in labels.split(",") if x.strip()])
    except (Invalid, Conflict, NotFound) as exc:
        return _page(request, section, extra={"error": exc.message, "error_field": exc.field}, status=exc.status)
    if shown:
        # The token is shown in this response only; a redirect would have to carry it in a URL.
        return _page(request, section, extra=shown)
    return redirect(f"/console/admin/{section}?saved={int(datetime.now(UTC).timestamp())}")


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"{field} must be a whole number", field=field) from None
