"""The web portal (public pages) and the console (staff pages): server-rendered, bilingual, no inline scripts.

`mount(app)` adds the page routers, the /static files and HTML error pages for non-API paths.
Pages are thin: parse, authorize, call the domain, render. Never put domain rules here.
"""

from __future__ import annotations

import inspect
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from qinglang.errors import QinglangError


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/v1", "/static", "/health", "/metrics", "/docs", "/openapi"))


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    """Delegate to the API's own JSON error handler (Starlette types handlers as sync-or-async)."""
    result = handler(request, exc)
    if inspect.isawaitable(result):
        result = await result
    response: Response = result
    return response


def mount(app: FastAPI) -> None:
    from qinglang.web import pages_admin, pages_console, pages_editor, pages_public, pages_report, stats_api
    from qinglang.web.render import STATIC, page_url, redirect, render

    routers = (pages_public.router, pages_report.router, pages_console.router, pages_editor.router,
               pages_admin.router, stats_api.router)
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    api_domain = app.exception_handlers[QinglangError]
    api_http = app.exception_handlers[StarletteHTTPException]
    api_validation = app.exception_handlers[RequestValidationError]

    async def domain_error(request: Request, exc: Exception) -> Response:
        if _is_api(request) or not isinstance(exc, QinglangError):
            return await _call(api_domain, request, exc)
        if exc.status == 401 and request.url.path.startswith("/console"):
            nxt = page_url(request) if request.method == "GET" else "/console"
            return redirect(f"/console/login?{urlencode({'next': nxt})}")
        return render(request, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status)

    async def http_error(request: Request, exc: Any) -> Response:
        if _is_api(request):
            return await _call(api_http, request, exc)
        return render(request, "error.html", {"status": exc.status_code, "message": str(exc.detail)},
                      status=exc.status_code)

    async def validation_error(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return await _call(api_validation, request, exc)
        fields = ", ".join(".".join(str(x) for x in e.get("loc", ())[1:]) for e in getattr(exc, "errors", list)())
        return render(request, "error.html", {"status": 422, "message": f"invalid input: {fields or 'request'}"},
                      status=422)

    app.add_exception_handler(QinglangError, domain_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
