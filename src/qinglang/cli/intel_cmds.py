"""`qinglang blocklist …` and `qinglang hashbank …`: manage shared threat intelligence from the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from qinglang.cli.common import CLI_ACTOR, cli_errors, console, fail, migrated_database

block_app = typer.Typer(no_args_is_help=True, help="Blocklists of phones, URLs, domains and accounts.")
bank_app = typer.Typer(no_args_is_help=True, help="Hash banks of known harmful images (PDQ, MD5).")


def register(app: typer.Typer) -> None:
    app.add_typer(block_app, name="blocklist")
    app.add_typer(bank_app, name="hashbank")


@block_app.command("add")
@cli_errors
def block_add(kind: str, value: str, source: Annotated[str, typer.Option(help="who says so")],
              reason: Annotated[str, typer.Option()] = "",
              days: Annotated[int | None, typer.Option(help="expire after N days")] = None) -> None:
    """Add an entry (kind: phone, url, domain, wechat, qq, alipay, telegram, email, bank_card, crypto)."""
    from qinglang.cases import intel

    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    with migrated_database() as db, db.write() as s:
        row = intel.add_block(s, actor=CLI_ACTOR, kind=kind, value=value, source=source, reason=reason,
                              expires_at=expires)
        console.print(f"blocklist entry {row.id}: {row.kind} {row.value}")


@block_app.command("list")
@cli_errors
def block_list(kind: Annotated[str | None, typer.Option()] = None) -> None:
    """List entries."""
    from qinglang.cases import intel
    from qinglang.store.models import BlocklistEntry

    table = Table("id", "kind", "value", "source", "expires", "active")
    q = select(BlocklistEntry).order_by(BlocklistEntry.id)
    if kind:
        q = q.where(BlocklistEntry.kind == kind)
    with migrated_database() as db, db.read() as s:
        for r in s.execute(q).scalars():
            d = intel.block_dict(r)
            table.add_row(str(d["id"]), d["kind"], d["value"], d["source"], d["expires_at"] or "never",
                          "yes" if d["active"] else "no")
    console.print(table)


@block_app.command("remove")
@cli_errors
def block_remove(entry_id: int) -> None:
    """Remove an entry by id."""
    from qinglang.cases import intel

    with migrated_database() as db, db.write() as s:
        intel.remove_block(s, actor=CLI_ACTOR, entry_id=entry_id)
    console.print(f"removed blocklist entry {entry_id}")


@bank_app.command("create")
@cli_errors
def bank_create(name: str, source_org: Annotated[str | None, typer.Option(help="organisation key")] = None,
                policy: Annotated[str, typer.Option(help="auto_flag | review")] = "review") -> None:
    """Create a hash bank."""
    from qinglang.cases import intel

    with migrated_database() as db, db.write() as s:
        b = intel.create_bank(s, actor=CLI_ACTOR, name=name, source_org=source_org, action_policy=policy)
    console.print(f"hash bank {b.name} created (policy {b.action_policy})")


@bank_app.command("import")
@cli_errors
def bank_import(name: str, file: Path) -> None:
    """Import signals from an HMA/ThreatExchange CSV (signal_value, signal_type, tags)."""
    from qinglang.cases import intel

    if not file.is_file():
        raise fail(f"no such file: {file}")
    with migrated_database() as db, db.write() as s:
        added, skipped = intel.import_bank_csv(s, actor=CLI_ACTOR, bank=name,
                                               text=file.read_text(encoding="utf-8-sig"))
    console.print(f"added {added} signal(s), skipped {skipped} already present")


@bank_app.command("export")
@cli_errors
def bank_export(name: str, output: Annotated[Path | None, typer.Option("-o", "--output")] = None) -> None:
    """Export a bank as CSV."""
    from qinglang.cases import intel

    with migrated_database() as db, db.read() as s:
        text = intel.export_bank_csv(s, name)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        typer.echo(text, nl=False)
