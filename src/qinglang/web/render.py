"""Rendering for the web portal and console: the Jinja2 environment, language choice, the console session, CSRF.

Autoescaping is on for every template; nothing here marks user content safe. Never put secrets or reporter
contact data into a template context.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from qinglang import accounts
from qinglang.api.deps import SESSION_COOKIE, principal_from_session
from qinglang.auth.policy import Principal, authorize, has
from qinglang.errors import Forbidden, Unauthorized
from qinglang.settings import Settings
from qinglang.store.db import Database
from qinglang.taxonomy import ACTIONS, CASE_STATES, CATEGORY_BY_CODE, VERDICTS, label_name
from qinglang.web.i18n import LANGS, STRINGS, translate

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
LANG_COOKIE = "qinglang_lang"

env = Environment(loader=FileSystemLoader(TEMPLATES),
                  autoescape=select_autoescape(default=True, default_for_string=True),
                  trim_blocks=True, lstrip_blocks=True)


def pick_lang(request: Request) -> str:
    """?lang= wins, then the cookie, then Accept-Language (first of zh/en named), then Chinese."""
    q = request.query_params.get("lang")
    if q in LANGS:
        return q
    c = request.cookies.get(LANG_COOKIE)
    if c in LANGS:
        return c
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "zh"


def _fmt_dt(value: datetime | str | None, lang: str, *, with_time: bool = True) -> str:
    if value is None or value == "":
        return "—"
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    if lang == "zh":
        return dt.strftime("%Y年%m月%d日 %H:%M" if with_time else "%Y年%m月%d日") + (" UTC" if with_time else "")
    return dt.strftime("%d %b %Y %H:%M UTC" if with_time else "%d %b %Y")


def _lang_url(request: Request, code: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", code))
    return f"{request.url.path}?{urlencode(params)}"


def page_url(request: Request, **changes: Any) -> str:
    """The current URL with some query parameters replaced (None removes one)."""
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    for k, v in changes.items():
        if v is None or v == "":
            params.pop(k, None)
        else:
            params[k] = str(v)
    return f"{request.url.path}?{urlencode(params)}" if params else request.url.path


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           status: int = 200) -> HTMLResponse:
    lang = pick_lang(request)

    def t(key: str, **kw: Any) -> str:
        return translate(lang, key, **kw)

    ctx: dict[str, Any] = {
        "request": request, "lang": lang, "t": t, "path": request.url.path,
        "lang_url": lambda code: _lang_url(request, code),
        "page_url": lambda **kw: page_url(request, **kw),
        "dt": lambda v, with_time=True: _fmt_dt(v, lang, with_time=with_time),
        "category_name": lambda code: CATEGORY_BY_CODE[code].name(lang) if code in CATEGORY_BY_CODE else code,
        "verdict_name": lambda code: label_name(VERDICTS, code, lang),
        "state_name": lambda code: label_name(CASE_STATES, code, lang),
        "action_name": lambda code: label_name(ACTIONS, code, lang),
        "principal": getattr(request.state, "console_principal", None),
        "csrf": getattr(request.state, "csrf", None),
        "has": has,
        "factor_keys": {k for k in STRINGS["en"] if k.startswith("factor.")},
    }
    ctx.update(context or {})
    body = env.get_template(template).render(ctx)
    response = HTMLResponse(body, status_code=status)
    q = request.query_params.get("lang")
    if q in LANGS:
        response.set_cookie(LANG_COOKIE, q, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def redirect(url: str) -> RedirectResponse:
    """After a POST: 303 so the browser GETs the result (works without JavaScript)."""
    return RedirectResponse(url, status_code=303)


def app_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def app_settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def console_principal(request: Request) -> Principal | None:
    """The staff member logged in through the console session cookie (API tokens do not log into pages)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    db = app_db(request)
    p = principal_from_session(db, cookie)
    if p is not None:
        with db.read() as s:
            request.state.csrf = accounts.session_csrf(s, cookie)
        request.state.console_principal = p
    return p


def require_console(request: Request, permission: str | None = None) -> Principal:
    """The logged-in principal, authorized for `permission`; Unauthorized sends the browser to the login page."""
    p = console_principal(request)
    if p is None:
        raise Unauthorized("please log in")
    if permission:
        authorize(p, permission)
    return p


def check_csrf(request: Request, token: str) -> None:
    """The form's hidden token must equal the one stored with this session (double check against forgery)."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    with app_db(request).read() as s:
        expected = accounts.session_csrf(s, cookie) if cookie else None
    if not expected or not token or not hmac.compare_digest(expected, token):
        raise Forbidden("the form's security token is missing or out of date; reload the page and try again")
