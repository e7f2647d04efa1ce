"""Authorization in one place: which role may do what, and which cases an actor may see.

Every API route and console page asks `authorize()` or `case_visible()`/`scope_cases()`; nothing else
decides access. An org agent sees and acts only on cases routed to its own organisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, false

from qinglang.errors import Forbidden, Unauthorized
from qinglang.store.models import Case

if TYPE_CHECKING:
    from qinglang.store.models import User


@dataclass(frozen=True)
class Principal:
    """Who is acting: a staff user (via session or API token), scoped to an organisation."""

    user_id: int
    username: str
    role: str
    org_id: int | None
    via: str = "token"  # "token" | "session" | "cli"
    token_id: int | None = None
    trusted_flagger: bool = False

    @property
    def label(self) -> str:
        return f"{self.role}:{self.username}"

    @classmethod
    def of(cls, user: User, *, via: str, token_id: int | None = None, org_id: int | None = None,
           trusted_flagger: bool = False) -> Principal:
        return cls(user.id, user.username, user.role, org_id if org_id is not None else user.org_id, via, token_id,
                   trusted_flagger)


# permission → roles that hold it. Admins hold every permission.
PERMISSIONS: dict[str, frozenset[str]] = {
    "orgs:read": frozenset({"reviewer", "expert", "org_agent", "campaign_manager"}),
    "orgs:write": frozenset(),
    "users:write": frozenset(),
    "tokens:write": frozenset(),
    "routing:write": frozenset(),
    "audit:read": frozenset(),
    "debunks:write": frozenset({"expert", "reviewer"}),
    "debunks:review": frozenset({"expert", "reviewer"}),
    "debunks:read_unpublished": frozenset({"expert", "reviewer"}),
    "cases:read": frozenset({"reviewer", "org_agent", "campaign_manager"}),
    "cases:act": frozenset({"reviewer", "org_agent"}),
    "cases:read_all": frozenset({"reviewer", "campaign_manager"}),
    "appeals:decide": frozenset({"reviewer"}),
    "campaigns:write": frozenset({"campaign_manager"}),
    "blocklists:write": frozenset({"reviewer"}),
    "hashbanks:write": frozenset({"reviewer"}),
    "triage:train": frozenset(),
    "export:sor": frozenset({"reviewer"}),
}


def has(principal: Principal | None, permission: str) -> bool:
    if principal is None:
        return False
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return principal.role == "admin" or principal.role in PERMISSIONS[permission]


def authorize(principal: Principal | None, permission: str) -> Principal:
    """Return the principal if it holds `permission`; raise 401 when anonymous, 403 when not allowed."""
    if principal is None:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' or log in")
    if not has(principal, permission):
        raise Forbidden(f"role {principal.role!r} may not do {permission!r}")
    return principal


def case_visible(principal: Principal, case: Case) -> bool:
    if has(principal, "cases:read_all"):
        return True
    return principal.role == "org_agent" and principal.org_id is not None and case.org_id == principal.org_id


def require_case(principal: Principal | None, case: Case, permission: str = "cases:read") -> Principal:
    p = authorize(principal, permission)
    if not case_visible(p, case):
        raise Forbidden("this case is routed to another organisation")
    return p


_Q = TypeVar("_Q", bound=Select[Any])


def scope_cases(principal: Principal, query: _Q) -> _Q:
    """Restrict a case query to what the principal may see."""
    authorize(principal, "cases:read")
    if has(principal, "cases:read_all"):
        return query
    if principal.role == "org_agent" and principal.org_id is not None:
        return query.where(Case.org_id == principal.org_id)
    return query.where(false())
