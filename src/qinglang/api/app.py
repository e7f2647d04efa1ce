"""The FastAPI application factory: API routers, web pages, error bodies, security headers, the job worker."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qinglang import __version__
from qinglang.api import errors
from qinglang.api.routes import actions, admin, campaigns, cases, debunks, health, intel, match, reports, webhooks
from qinglang.cases.ratelimit import RateLimiter
from qinglang.errors import QinglangError
from qinglang.lifecycle import die_with_parent, one_math_thread, settle_heap
from qinglang.observability import HTTP_LATENCY
from qinglang.settings import Settings, get_settings
from qinglang.store.db import Database, get_database

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'")


_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY")]


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task or body streaming, unlike `@app.middleware`): adds the
    security headers every response carries and records request latency by route for `/metrics`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in _HEADERS if h[0] not in present]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            HTTP_LATENCY.labels(scope.get("method", ""), getattr(route, "path", "unmatched"),
                                str(status)).observe(time.perf_counter() - started)


_INTAKE_ROUTE = SimpleNamespace(path="/v1/reports")


class IntakeFastPath:
    """Anonymous `POST /v1/reports` straight to its endpoint function, skipping FastAPI's routing and
    dependency resolution (which cost more than the durable write itself at a thousand reports a second).

    Same endpoint code, same validation, rate limits and error bodies; requests with credentials (token or
    session cookie) and every other route go through FastAPI as usual.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/reports"
                or any(k in (b"authorization", b"cookie") for k, _ in scope["headers"])):
            await self.app(scope, receive, send)
            return
        scope["route"] = _INTAKE_ROUTE  # the latency metric's route label, as FastAPI would set it
        request = Request(scope, receive)
        state = scope["app"].state
        try:
            response = await reports.submit(request, state.db, state.settings, None)
        except QinglangError as exc:
            response = errors.domain_error_response(exc)
        await response(scope, receive, send)


def warm_up(db: Database) -> None:
    """Load the claim index, the embedding model and the triage models before the first report needs them."""
    from qinglang.cases.triage_bridge import analyze_reports
    from qinglang.match.store_source import holder

    try:
        holder(db).get().warm()
        analyze_reports(["warm-up 预热"], [""])
    except Exception as exc:  # warm-up is an optimisation; the first real request will load what failed here
        structlog.get_logger("qinglang.api").warning("warm_up_failed", error=repr(exc)[:200])


def create_app(settings: Settings | None = None, *, start_worker: bool | None = None) -> FastAPI:
    settings = settings or get_settings()
    # The intake writer thread needs the GIL a few times per group commit while the event loop is busy; the
    # default 5 ms switch interval made each of those waits a visible share of the intake latency.
    sys.setswitchinterval(0.0005)
    db = get_database(settings.db_url)
    run_worker = settings.jobs == "thread" if start_worker is None else start_worker
    warm = run_worker or (start_worker is None and settings.jobs == "process")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from qinglang.jobs.worker import Worker

        parent = multiprocessing.parent_process()
        if parent is not None and parent.pid is not None:  # one of `serve --workers N`'s API processes
            die_with_parent(parent.pid)
            one_math_thread()

        worker = Worker(db) if run_worker else None
        app.state.worker = worker
        if worker:
            worker.start()
            from qinglang.cases.sla import ensure_scheduled

            ensure_scheduled(db)
        if warm:  # the API process answers instant matches itself, so it loads the models too
            def warm_then_ready() -> None:
                warm_up(db)
                settle_heap()
                app.state.ready.set()

            threading.Thread(target=warm_then_ready, name="qinglang-warmup", daemon=True).start()
        else:
            app.state.ready.set()
        try:
            yield
        finally:
            if worker:
                worker.stop()

    # No Swagger/ReDoc pages: they load scripts from a CDN, which the CSP (and offline deployments) forbid.
    app = FastAPI(title="qinglang API", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Report harmful content, match it against debunks, route cases, act with reasons.")
    app.state.settings = settings
    app.state.db = db
    app.state.worker = None
    app.state.limiter = RateLimiter(settings.rate_limit)
    app.state.ready = threading.Event()  # set once the models are loaded (see /readyz)
    errors.install(app)
    from qinglang.match.store_source import set_index_dir

    set_index_dir(db, settings.data_dir / "index")

    app.add_middleware(IntakeFastPath)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so fast-path responses carry the headers too

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in (health.router, debunks.router, match.router, reports.router, cases.router, actions.router,
                   intel.router, campaigns.router, admin.router, webhooks.router):
        app.include_router(router)
    from qinglang.web import mount

    mount(app)
    return app
