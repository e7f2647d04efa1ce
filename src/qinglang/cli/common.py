"""Shared CLI plumbing: the database from settings, one-line errors, the CLI's own principal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from qinglang.errors import QinglangError
from qinglang.settings import get_settings
from qinglang.store.db import Database, get_database

console = Console()
err_console = Console(stderr=True)
CLI_ACTOR = "cli:operator"

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def cli_errors(fn: F) -> F:
    """Turn domain and I/O errors into one readable line and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except QinglangError as exc:
            raise fail(exc.line()) from None
        except (OSError, ValueError) as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def database() -> Database:
    return get_database(get_settings().db_url)


@contextmanager
def migrated_database() -> Iterator[Database]:
    """The configured database; exits with a clear line when it has not been migrated."""
    db = database()
    from sqlalchemy import inspect

    if "alembic_version" not in inspect(db.engine).get_table_names():
        raise fail("the database has no schema yet: run `qinglang db upgrade` first")
    yield db


def is_tty() -> bool:
    return sys.stderr.isatty()
