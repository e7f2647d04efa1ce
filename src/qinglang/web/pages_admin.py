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

from qinglang import accounts, audit
from qinglang.auth.policy import Principal, authorize, has
from qinglang.cases.routing import add_rule
from qinglang.errors import Conflict, Invalid, NotFound
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
BLOCK_KINDS = ("phone", "domain", "url", "account", "card", "keyword")
SIGNAL_TYPES = ("pdq", "md5")
Field = Annotated[str, Form(max_length=500)]


# Small audited data functions for lists that have no domain module yet (the lead may move them to the domain).
def add_block(s: Session, p: Principal, *, kind: str, value: str, source: str, reason: str) -> BlocklistEntry:
    if kind not in BLOCK_KINDS:
        raise Invalid(f"kind must be one of {', '.join(BLOCK_KINDS)}", field="kind")
    if not value.strip():
        raise Invalid("value must not be empty", field="value")
    value = value.strip().lower() if kind in ("domain", "url") else value.strip()
    if s.execute(select(BlocklistEntry.id).where(BlocklistEntry.kind == kind, BlocklistEntry.value == value)).first():
        raise Conflict("this entry is already on the blocklist", field="value")
    row = BlocklistEntry(kind=kind, value=value, source=source.strip() or p.username, reason=reason.strip(),
                         created_by=p.user_id)
    s.add(row)
    s.flush()
    audit.record(s, actor=p.label, action="blocklist.add", object_type="blocklist_entry", object_id=row.id,
                 summary={"kind": kind, "value": value})
    return row


def remove_row(s: Session, p: Principal, model: type[BlocklistEntry] | type[HashBankEntry], row_id: int,
               action: str) -> None:
    row: BlocklistEntry | HashBankEntry | None = (
        s.get(BlocklistEntry, row_id) if model is BlocklistEntry else s.get(HashBankEntry, row_id))
    if row is None:
        raise NotFound(f"entry {row_id} not found")
    summary: dict[str, Any]
    if isinstance(row, BlocklistEntry):
        object_type, summary = "blocklist_entry", {"kind": row.kind, "value": row.value}
    else:
        object_type = "hash_bank_entry"
        summary = {"bank_id": row.bank_id, "signal_type": row.signal_type, "value": row.value}
    s.delete(row)
    audit.record(s, actor=p.label, action=action, object_type=object_type, object_id=row_id, summary=summary)


def add_bank(s: Session, p: Principal, *, name: str, action_policy: str) -> HashBank:
    if not name.strip():
        raise Invalid("a bank needs a name", field="name")
    if action_policy not in ("review", "auto"):
        raise Invalid("action policy must be review or auto", field="action_policy")
    if s.execute(select(HashBank.id).where(HashBank.name == name.strip())).first():
        raise Conflict("a bank with this name exists", field="name")
    bank = HashBank(name=name.strip(), action_policy=action_policy, source_org_id=p.org_id)
    s.add(bank)
    s.flush()
    audit.record(s, actor=p.label, action="hashbank.create", object_type="hash_bank", object_id=bank.id,
                 summary={"name": bank.name, "action_policy": action_policy})
    return bank


def add_hash(s: Session, p: Principal, *, bank_id: int, signal_type: str, value: str, labels: str) -> HashBankEntry:
    if s.get(HashBank, bank_id) is None:
        raise Invalid("choose an existing bank", field="bank_id")
    value = value.strip().lower()
    want = {"pdq": 64, "md5": 32}.get(signal_type)
    if want is None:
        raise Invalid("signal type must be pdq or md5", field="signal_type")
    if len(value) != want or any(c not in "0123456789abcdef" for c in value):
        raise Invalid(f"a {signal_type} hash is {want} hexadecimal characters", field="value")
    if s.execute(select(HashBankEntry.id).where(HashBankEntry.bank_id == bank_id, HashBankEntry.value == value,
                                                HashBankEntry.signal_type == signal_type)).first():
        raise Conflict("this hash is already in the bank", field="value")
    row = HashBankEntry(bank_id=bank_id, signal_type=signal_type, value=value,
                        labels=[x.strip() for x in labels.split(",") if x.strip()])
    s.add(row)
    s.flush()
    audit.record(s, actor=p.label, action="hashbank.add", object_type="hash_bank_entry", object_id=row.id,
                 summary={"bank_id": bank_id, "signal_type": signal_type, "value": value})
    return row


def _section_ctx(s: Session, section: str) -> dict[str, Any]:
    orgs = list(s.execute(select(Organisation).order_by(Organisation.key)).scalars())
    ctx: dict[str, Any] = {"section": section, "orgs": orgs, "org_by_id": {o.id: o for o in orgs},
                           "kinds": ORG_KINDS, "roles": ROLES, "categories": CATEGORIES,
                           "block_kinds": BLOCK_KINDS, "signal_types": SIGNAL_TYPES}
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
                remove_row(s, p, BlocklistEntry, _int(row_id, "row_id"), "blocklist.remove")
            elif section == "blocklists":
                add_block(s, p, kind=kind, value=value, source=source, reason=reason)
            elif section == "hashbanks" and op == "remove":
                remove_row(s, p, HashBankEntry, _int(row_id, "row_id"), "hashbank.remove")
            elif section == "hashbanks" and op == "bank":
                add_bank(s, p, name=name, action_policy=action_policy)
            elif section == "hashbanks":
                add_hash(s, p, bank_id=_int(bank_id, "bank_id"), signal_type=signal_type, value=value,
                         labels=labels)
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
