"""`qinglang debunks import|export`: ClaimReview JSON and CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from qinglang.cli.common import cli_errors, console, fail, migrated_database

debunks_app = typer.Typer(no_args_is_help=True, help="The debunk registry: import and export.")


def register(app: typer.Typer) -> None:
    app.add_typer(debunks_app, name="debunks")


@debunks_app.command("import")
@cli_errors
def import_(file: Path, org: Annotated[str, typer.Option(help="publishing organisation key")],
            status: Annotated[str, typer.Option(help="published | in_review | draft")] = "published") -> None:
    """Import debunks from ClaimReview JSON (.json) or CSV (.csv). Idempotent; all-or-nothing."""
    from qinglang.accounts import org_by_key
    from qinglang.debunks import io as dio

    if status not in ("published", "in_review", "draft"):
        raise fail("--status must be published, in_review or draft")
    if not file.is_file():
        raise fail(f"no such file: {file}")
    text = file.read_text(encoding="utf-8-sig")
    if file.suffix.lower() == ".csv":
        items = dio.parse_csv(text)
    else:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise fail(f"{file}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        items = dio.parse_claimreview(payload)
    with migrated_database() as db, db.write() as s:
        created, skipped = dio.import_items(s, None, items, org_id=org_by_key(s, org).id, status=status)
    console.print(f"imported {created} debunk(s), skipped {skipped} already present")


@debunks_app.command("export")
@cli_errors
def export(fmt: Annotated[str, typer.Option("--format", help="claimreview | csv")] = "claimreview",
           output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default: stdout)")] = None,
           base_url: Annotated[str, typer.Option(help="public site URL for ClaimReview links")] =
           "http://127.0.0.1:8000") -> None:
    """Export published debunks."""
    from qinglang.debunks import io as dio

    if fmt not in ("claimreview", "csv"):
        raise fail("--format must be claimreview or csv")
    with migrated_database() as db, db.read() as s:
        text = dio.export_csv(s) if fmt == "csv" else json.dumps(dio.export_claimreview(s, base_url),
                                                                 ensure_ascii=False, indent=1)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        typer.echo(text)
