"""Export commands: `qinglang export sor` writes DSA statements of reasons as a JSON array.

Refuses to write a file in which any statement breaks the DSA submission rules. Never exports personal data.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from qinglang.cli.common import cli_errors, err_console, fail, migrated_database
from qinglang.errors import Invalid

export_app = typer.Typer(no_args_is_help=True, help="Exports for regulators and researchers.")


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


def parse_day(value: str | None, *, field: str) -> datetime | None:
    """A YYYY-MM-DD date (or full ISO timestamp) as an aware UTC datetime."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field} must be a date YYYY-MM-DD, got {value!r}", field=field) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@export_app.command("sor")
@cli_errors
def export_sor(output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default: stdout)")] = None,
               since: Annotated[str | None, typer.Option(help="decisions on or after this date (YYYY-MM-DD)")] = None,
               until: Annotated[str | None, typer.Option(help="decisions before this date (YYYY-MM-DD)")] = None,
               ) -> None:
    """Statements of reasons for every restricting decision, in the EU DSA Transparency Database format."""
    from qinglang.stats.sor import statements, validate_statement

    start, end = parse_day(since, field="since"), parse_day(until, field="until")
    with migrated_database() as db, db.read() as s:
        items = statements(s, since=start, until=end)
    problems = [(st["puid"], err) for st in items for err in validate_statement(st)]
    if problems:
        for puid, err in problems[:20]:
            err_console.print(f"{puid}: {err}", highlight=False)
        raise fail(f"{len(problems)} rule violations in {len(items)} statements; nothing written")
    text = json.dumps(items, ensure_ascii=False, indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    err_console.print(f"{len(items)} statements of reasons" + (f" written to {output}" if output else ""),
                      highlight=False)
