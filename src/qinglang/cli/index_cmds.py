"""`qinglang index status|rebuild`: the saved claim index of the configured database and data directory."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from qinglang.cli.common import cli_errors, migrated_database
from qinglang.settings import get_settings

index_app = typer.Typer(no_args_is_help=True, help="The claim index every process holds: status and rebuild.")


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")


def _size(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


@index_app.command("status")
@cli_errors
def status(as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False) -> None:
    """The database's checkpoint and the saved index: how far behind it is, and what dead saves left."""
    from qinglang.match.store_source import index_status

    with migrated_database() as db:
        st = index_status(db, get_settings().data_dir / "index")
    if as_json:
        print(json.dumps(st, ensure_ascii=False, indent=1))
        return
    print(f"database checkpoint {st['checkpoint']}, {st['published_debunks']:,} published debunks")
    saved = st["saved"]
    if saved is None:
        print(f"no saved index in {st['index_dir']}: the first process to need one builds it from the store")
    else:
        whose = {True: "this database's", False: "ANOTHER database's (it will be rebuilt, never loaded)",
                 None: "from before saves named their database"}[saved["this_database"]]
        count = "?" if saved["debunks"] is None else f"{saved['debunks']:,}"
        print(f"saved index: checkpoint {saved['checkpoint']}, {count} debunks, "
              f"{_size(saved['bytes'])}, saved {saved['saved_at']}, {whose}")
        if saved["usable"]:
            print(f"a process starting now loads it and catches up {saved['changed_since']:,} changed debunk(s)")
        else:
            print("not usable here: a process starting now rebuilds it from the store")
    if st["leftovers"]:
        print(f"{st['leftovers']} temp dir(s) of unfinished saves, {_size(st['leftover_bytes'])} "
              "(removed by a save once an hour old)")


@index_app.command("rebuild")
@cli_errors
def rebuild() -> None:
    """Build the index from the published debunks and save it (embeds every debunk: minutes for large registries)."""
    from qinglang.match.store_source import rebuild_index

    with migrated_database() as db:
        t = time.perf_counter()
        docs, checkpoint = rebuild_index(db, get_settings().data_dir / "index")
    print(f"rebuilt and saved: {docs:,} debunks at checkpoint {checkpoint} in {time.perf_counter() - t:.1f} s")
