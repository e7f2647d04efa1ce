"""Request dependencies: the database, the settings, and the acting principal (token or session cookie).

One seam per request, as in full-stack-fastapi-template: `DB`, `Settings`, `CurrentPrincipal`, `OptionalPrincipal`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from qinglang.auth.policy import Principal, authorize
from qinglang.auth.secrets import sha256_hex
from qinglang.errors import Unauthorized
from qinglang.settings import Settings as SettingsT
from qinglang.store.db import Database
from qinglang.store.models import ApiToken, User, WebSession

SESSION_COOKIE = "qinglang_session"


# Dependencies are `async def` when they never block: FastAPI runs sync dependencies in the thread pool,
# and a thread hop per dependency per request costs more than the work itself on the intake path.
async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_settings(request: Request) -> SettingsT:
    s: SettingsT = request.app.state.settings
    return s


DB = Annotated[Database, Depends(get_db)]
Settings = Annotated[SettingsT, Depends(get_settings)]


def principal_from_token(db: Database, token: str) -> Principal:
    now = datetime.now(UTC)
    with db.read() as s:
        row = s.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                        .where(ApiToken.token_hash == sha256_hex(token))).first()
        if row is None:
            raise Unauthorized("invalid API token")
        tok, user = row
        if tok.revoked_at is not None or (tok.expires_at is not None and tok.expires_at < now) or not user.active:
            raise Unauthorized("API token revoked, expired, or its user is disabled")
        return Principal.of(user, via="token", token_id=tok.id, org_id=tok.org_id,
                            trusted_flagger=tok.trusted_flagger)


def principal_from_session(db: Database, cookie: str) -> Principal | None:
    now = datetime.now(UTC)
    with db.read() as s:
        row = s.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                        .where(WebSession.session_hash == sha256_hex(cookie))).first()
        if row is None:
            return None
        sess, user = row
        if sess.expires_at < now or not user.active:
            return None
        return Principal.of(user, via="session")


async def optional_principal(request: Request, db: DB) -> Principal | None:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    auth = request.headers.get("authorization", "")
    principal: Principal | None = None
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization header must be 'Bearer <token>'")
        principal = await run_in_threadpool(principal_from_token, db, token.strip())
    elif cookie := request.cookies.get(SESSION_COOKIE):
        principal = await run_in_threadpool(principal_from_session, db, cookie)
    request.state.principal = principal
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require(permission: str) -> Callable[[Principal | None], Principal]:
    """Dependency factory: the principal, authorized for `permission` (401/403 otherwise)."""

    async def dep(principal: OptionalPrincipal) -> Principal:
        return authorize(principal, permission)

    dep.__name__ = f"require_{permission.replace(':', '_')}"
    return dep


async def current_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' or log in")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
