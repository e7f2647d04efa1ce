"""Core commands: serve, db upgrade, demo load, org/user/token management, audit verify."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Annotated

import typer
from rich.table import Table

from qinglang import accounts, audit
from qinglang.cli.common import CLI_ACTOR, cli_errors, console, fail, migrated_database
from qinglang.lifecycle import (
    one_math_thread,
    settle_heap,
    signal_ready,
    start_with_ready_pipe,
    take_ready_fd,
    wait_ready,
)
from qinglang.settings import get_settings

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
demo_app = typer.Typer(no_args_is_help=True, help="Bundled demo data.")
org_app = typer.Typer(no_args_is_help=True, help="Organisations.")
user_app = typer.Typer(no_args_is_help=True, help="Staff users.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker)
    for name, sub in (("db", db_app), ("demo", demo_app), ("org", org_app), ("user", user_app),
                      ("token", token_app), ("audit", audit_app)):
        app.add_typer(sub, name=name)


@cli_errors
def serve(host: Annotated[str | None, typer.Option(help="bind address")] = None,
          port: Annotated[int | None, typer.Option(help="port")] = None,
          workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1) -> None:
    """Serve the API and the web pages."""
    import uvicorn

    from qinglang.observability import configure_logging

    s = get_settings()
    configure_logging(s.log_level)
    worker = None
    if s.jobs == "process":
        # The port opens once the worker has loaded its models and analysis helpers: loading them later would
        # land in the first flood of reports (and slow intake), or at the start of the backlog it leaves.
        worker, ready = start_with_ready_pipe([sys.executable, "-m", "qinglang.cli", "worker"])
        if not wait_ready(worker, ready, WORKER_START_SECONDS):
            import structlog

            structlog.get_logger("qinglang").warning("worker_not_ready", waited_s=WORKER_START_SECONDS,
                                                     exited=worker.poll())
    try:
        uvicorn.run("qinglang.api.app:create_app", factory=True, host=host or s.host, port=port or s.port,
                    workers=workers, log_level=s.log_level, access_log=False)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()


WORKER_START_SECONDS = 180.0
STOP_POLL = 0.2  # seconds: how often a running worker looks whether it was asked to stop


@cli_errors
def worker() -> None:
    """Run background jobs (report pipeline, index updates, webhooks, SLA sweeps) until stopped."""
    import signal

    from qinglang.api.app import warm_up
    from qinglang.cases.analysis import start_helpers, stop_helpers
    from qinglang.cases.pipeline import read_ahead
    from qinglang.cases.sla import ensure_scheduled
    from qinglang.jobs.worker import Worker
    from qinglang.match.store_source import set_index_dir
    from qinglang.observability import configure_logging
    from qinglang.store.db import get_database

    s = get_settings()
    configure_logging(s.log_level)
    ready_fd = take_ready_fd()
    one_math_thread()  # one of several busy processes (API servers, analysis helpers) on the same cores
    db = get_database(s.db_url)
    set_index_dir(db, s.data_dir / "index")
    # The handlers only append to a list. They used to call Event.set(), which takes the event's lock: a signal
    # that arrived while this thread held that same lock inside Event.wait() deadlocked the main thread for good,
    # and the job thread of such a worker went on running after its server had gone (orphaned workers found after
    # test runs, each still taking jobs).
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    warm_up(db)
    # Analysis helpers now, while nothing else runs (see `serve`); a backlog would start them anyway.
    helpers = start_helpers(db)
    deadline = time.monotonic() + WORKER_START_SECONDS
    while (helpers is not None and not (helpers.ready() or helpers.broken) and time.monotonic() < deadline
           and not stopping):
        time.sleep(0.1)
    if not stopping:
        read_ahead(db)  # its idle helper starts on idle CPU, after the others
        settle_heap()
        signal_ready(ready_fd)
        w = Worker(db, idle_seconds=0.2)
        w.start()
        ensure_scheduled(db)
        while not stopping:
            time.sleep(STOP_POLL)
        w.stop()
    # Stopping: more signals change nothing, and at its exit Python puts back their default action, which a late
    # signal of a burst would then take (the worker killed mid-exit, status -15: seen in the burst test under load).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    stop_helpers()


@db_app.command("upgrade")
@cli_errors
def db_upgrade() -> None:
    """Create or upgrade the schema (Alembic) at QINGLANG_DATABASE_URL."""
    from qinglang.store.migrate import upgrade

    url = get_settings().db_url
    upgrade(url)
    console.print("database schema is up to date")


@demo_app.command("load")
@cli_errors
def demo_load() -> None:
    """Load the bundled demo organisations, users, debunks and reports (idempotent)."""
    from qinglang.demo import load_demo

    with migrated_database() as db:
        summary = load_demo(db, get_settings(), progress=True)
    console.print(summary)


@org_app.command("add")
@cli_errors
def org_add(key: str, kind: Annotated[str, typer.Option(help="regulator|agency|platform|fact_checker|expert_panel|"
                                                         "volunteer_group")],
            name_zh: Annotated[str, typer.Option("--name-zh")], name_en: Annotated[str, typer.Option("--name-en")],
            supervisor: Annotated[str | None, typer.Option(help="supervising organisation key")] = None,
            domains: Annotated[str, typer.Option(help="comma-separated platform domains")] = "",
            categories: Annotated[str, typer.Option(help="comma-separated category codes")] = "",
            regions: Annotated[str, typer.Option(help="comma-separated region codes")] = "",
            webhook_url: Annotated[str | None, typer.Option()] = None,
            webhook_secret: Annotated[str | None, typer.Option()] = None) -> None:
    """Add an organisation."""
    split = lambda v: [x.strip() for x in v.split(",") if x.strip()]  # noqa: E731
    with migrated_database() as db, db.write() as s:
        org = accounts.create_org(s, actor=CLI_ACTOR, key=key, kind=kind, name_zh=name_zh, name_en=name_en,
                                  jurisdiction={"domains": split(domains), "categories": split(categories),
                                                "regions": split(regions)},
                                  supervisor=supervisor, webhook_url=webhook_url, webhook_secret=webhook_secret,
                                  secret=get_settings().secret())
        console.print(f"organisation {org.key} created (id {org.id})")


@org_app.command("list")
@cli_errors
def org_list() -> None:
    """List organisations."""
    from sqlalchemy import select

    from qinglang.store.models import Organisation

    table = Table("id", "key", "kind", "name")
    with migrated_database() as db, db.read() as s:
        for o in s.execute(select(Organisation).order_by(Organisation.id)).scalars():
            table.add_row(str(o.id), o.key, o.kind, f"{o.name_zh} / {o.name_en}")
    console.print(table)


@user_app.command("add")
@cli_errors
def user_add(username: str, role: Annotated[str, typer.Option(help="admin|reviewer|expert|org_agent|"
                                                               "campaign_manager")],
             org: Annotated[str | None, typer.Option(help="organisation key")] = None,
             password: Annotated[str | None, typer.Option(help="web console password (prompted if omitted)")] = None,
             no_password: Annotated[bool, typer.Option(help="API-token-only user")] = False) -> None:
    """Add a staff user."""
    if password is None and not no_password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with migrated_database() as db, db.write() as s:
        user = accounts.create_user(s, actor=CLI_ACTOR, username=username, role=role, org=org, password=password)
        console.print(f"user {user.username} ({user.role}) created (id {user.id})")


@token_app.command("create")
@cli_errors
def token_create(username: str, name: Annotated[str, typer.Option(help="what the token is for")] = "",
                 org: Annotated[str | None, typer.Option(help="scope to this organisation")] = None,
                 days: Annotated[int | None, typer.Option(help="expire after N days")] = None,
                 trusted_flagger: Annotated[bool, typer.Option(help="reports with it count as trusted")] = False
                 ) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    with migrated_database() as db, db.write() as s:
        _row, token = accounts.create_token(s, actor=CLI_ACTOR, username=username, name=name, org=org, days=days,
                                            trusted_flagger=trusted_flagger)
    typer.echo(token)


@audit_app.command("verify")
@cli_errors
def audit_verify() -> None:
    """Check the SHA-256 chain of the audit log; exits 1 at the first broken link."""
    with migrated_database() as db, db.read() as s:
        result = audit.verify(s)
    if not result.ok:
        raise fail(f"audit chain broken at event {result.first_bad_id}: {result.reason} "
                   f"({result.checked} events verified before it)")
    console.print(f"audit chain intact: {result.checked} events verified")


@audit_app.command("tail")
@cli_errors
def audit_tail(n: Annotated[int, typer.Option(help="how many events")] = 20) -> None:
    """Show the latest audit events."""
    from sqlalchemy import select

    from qinglang.store.models import AuditEvent

    with migrated_database() as db, db.read() as s:
        rows = s.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(n)).scalars().all()
    for ev in reversed(rows):
        console.print(f"{ev.id:>6} {ev.ts:%Y-%m-%d %H:%M:%S} {ev.actor:<24} {ev.action:<20} "
                      f"{ev.object_type}:{ev.object_id} {json.dumps(ev.summary, ensure_ascii=False)[:120]}",
                      highlight=False, markup=False)


