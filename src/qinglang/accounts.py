"""Organisations, staff users, API tokens and web sessions: creation, lookup and login.

Passwords are argon2-hashed; tokens are shown once and stored hashed. Every change is audited.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from qinglang import audit
from qinglang.auth import secrets as sec
from qinglang.errors import Conflict, Invalid, NotFound, Unauthorized
from qinglang.store.models import ApiToken, Organisation, User, WebSession
from qinglang.taxonomy import CATEGORY_CODES, ORG_KINDS, ROLES, check_code

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD = 8


def org_by_key(session: Session, key: str) -> Organisation:
    org = session.execute(select(Organisation).where(Organisation.key == key)).scalar_one_or_none()
    if org is None:
        raise NotFound(f"organisation {key!r} not found", field="org")
    return org


def create_org(session: Session, *, actor: str, key: str, kind: str, name_zh: str, name_en: str,
               jurisdiction: dict[str, Any] | None = None, supervisor: str | None = None,
               webhook_url: str | None = None, webhook_secret: str | None = None,
               secret: str | None = None) -> Organisation:
    if not _KEY_RE.match(key):
        raise Invalid("key must be 2-64 lower-case letters, digits, '-' or '_'", field="key")
    check_code(kind, ORG_KINDS, field="kind")
    if not name_zh.strip() or not name_en.strip():
        missing = "name_zh" if not name_zh.strip() else "name_en"
        raise Invalid("an organisation needs a Chinese and an English name", field=missing)
    jur = jurisdiction or {}
    for c in jur.get("categories", []):
        check_code(c, CATEGORY_CODES, field="jurisdiction.categories")
    if session.execute(select(Organisation.id).where(Organisation.key == key)).first():
        raise Conflict(f"organisation {key!r} exists", field="key")
    if webhook_url and not webhook_url.startswith(("https://", "http://")):
        raise Invalid("webhook_url must be http(s)", field="webhook_url")
    sup = org_by_key(session, supervisor) if supervisor else None
    org = Organisation(key=key, kind=kind, name_zh=name_zh.strip(), name_en=name_en.strip(),
                       jurisdiction={"categories": list(jur.get("categories", [])),
                                     "regions": list(jur.get("regions", [])),
                                     "domains": [d.lower() for d in jur.get("domains", [])]},
                       supervisor_id=sup.id if sup else None, webhook_url=webhook_url)
    if webhook_secret:
        if not secret:
            raise Invalid("webhook secret needs the deployment secret to encrypt it", field="webhook_secret")
        org.webhook_secret_enc = sec.encrypt(secret, webhook_secret)
    session.add(org)
    session.flush()
    audit.record(session, actor=actor, action="org.create", object_type="organisation", object_id=org.id,
                 summary={"key": key, "kind": kind, "supervisor": supervisor})
    return org


def create_user(session: Session, *, actor: str, username: str, role: str, password: str | None,
                org: str | None = None, display_name: str = "") -> User:
    if not re.match(r"^[A-Za-z0-9_.@-]{2,64}$", username):
        raise Invalid("username must be 2-64 letters, digits or _.@-", field="username")
    check_code(role, ROLES, field="role")
    if password is not None and len(password) < MIN_PASSWORD:
        raise Invalid(f"password must have at least {MIN_PASSWORD} characters", field="password")
    org_row = org_by_key(session, org) if org else None
    if role == "org_agent" and org_row is None:
        raise Invalid("an org_agent belongs to an organisation: pass --org", field="org")
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"user {username!r} exists", field="username")
    user = User(username=username, role=role, org_id=org_row.id if org_row else None,
                display_name=display_name or username,
                password_hash=sec.hash_password(password) if password else None)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", object_type="user", object_id=user.id,
                 summary={"username": username, "role": role, "org": org})
    return user


def user_by_name(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {username!r} not found", field="user")
    return user


def create_token(session: Session, *, actor: str, username: str, name: str = "", org: str | None = None,
                 days: int | None = None, trusted_flagger: bool = False) -> tuple[ApiToken, str]:
    """A new API token for a user; returns (row, the plaintext token — shown once, never stored)."""
    user = user_by_name(session, username)
    org_id = user.org_id
    if org is not None:
        org_row = org_by_key(session, org)
        if user.role == "org_agent" and user.org_id != org_row.id:
            raise Invalid("an org agent's token is scoped to the agent's own organisation", field="org")
        org_id = org_row.id
    token, prefix, digest = sec.new_api_token()
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    row = ApiToken(user_id=user.id, org_id=org_id, name=name, prefix=prefix, token_hash=digest,
                   trusted_flagger=trusted_flagger, expires_at=expires)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="token.create", object_type="api_token", object_id=row.id,
                 summary={"user": username, "prefix": prefix, "org_id": org_id, "trusted_flagger": trusted_flagger})
    return row, token


def revoke_token(session: Session, *, actor: str, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"token {token_id} not found")
    row.revoked_at = datetime.now(UTC)
    audit.record(session, actor=actor, action="token.revoke", object_type="api_token", object_id=row.id,
                 summary={"prefix": row.prefix})
    return row


def login(session: Session, *, username: str, password: str) -> tuple[User, str, str]:
    """Check a password; on success return (user, session cookie value, CSRF token)."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if not sec.verify_password(user.password_hash if user else None, password) or user is None or not user.active:
        raise Unauthorized("wrong username or password")
    cookie = sec.new_opaque_token()
    csrf = sec.new_opaque_token(24)
    now = datetime.now(UTC)
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.add(WebSession(session_hash=sec.sha256_hex(cookie), user_id=user.id, csrf_token=csrf,
                           expires_at=now + SESSION_TTL))
    audit.record(session, actor=f"{user.role}:{user.username}", action="session.login", object_type="user",
                 object_id=user.id, summary={})
    return user, cookie, csrf


def logout(session: Session, cookie: str) -> None:
    session.execute(delete(WebSession).where(WebSession.session_hash == sec.sha256_hex(cookie)))


def session_csrf(session: Session, cookie: str) -> str | None:
    row = session.execute(select(WebSession.csrf_token)
                          .where(WebSession.session_hash == sec.sha256_hex(cookie))).scalar_one_or_none()
    return row
