"""Every error leaves the API as one JSON body: {"error": {"code", "message", "details": [...]}}."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qinglang.errors import QinglangError

log = structlog.get_logger("qinglang.api")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid", 429: "rate_limited", 500: "internal_error"}


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def domain_error_response(exc: QinglangError) -> JSONResponse:
    """The response for a domain error (`Invalid`, `Forbidden`, `RateLimited`…), naming the field if any."""
    details = [{"field": exc.field, "message": exc.message}] if exc.field else []
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 429:
        headers = {"Retry-After": "60"}
    return error_response(exc.status, exc.code, exc.message, details, headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(QinglangError)
    async def _domain(_: Request, exc: QinglangError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
            details.append({"field": ".".join(loc) or None, "message": err.get("msg", "invalid"),
                            "type": err.get("type", "")})
        fields = ", ".join(d["field"] for d in details if d["field"]) or "request"
        return error_response(422, "invalid", f"invalid input: {fields}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", path=request.url.path, error=type(exc).__name__)
        return error_response(500, "internal_error", "internal server error")
