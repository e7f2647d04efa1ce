"""CLI commands for claim matching: ``match``, ``scan`` and ``eval match``.

Thin: parse arguments, build or load the matcher, call ``qinglang.match``, render with rich. Domain
errors become one readable line on stderr and exit code 1. Never implements matching logic itself.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from qinglang.errors import Invalid, QinglangError

T = TypeVar("T")
PoolOpt = Annotated[
    Path | None,
    typer.Option("--pool", help="Claim pool JSONL (vclaim_id, vclaim[, title, variants, date]); default: store"),
]


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


def _guard(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except QinglangError as e:
        _fail(e.line())
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        _fail(f"{e.strerror}: {e.filename}")
    raise AssertionError("unreachable")


def _matcher(pool: Path | None):  # type: ignore[no-untyped-def]
    from qinglang.match import Matcher
    from qinglang.match.evaluate import load_pool

    if pool is None:
        try:
            from qinglang.match.store_source import load_matcher  # the lead's module: published debunks
        except ImportError as e:
            raise Invalid(f"no --pool given and the debunk store is not available ({e})") from e
        return load_matcher()
    return Matcher(load_pool(pool))


def match_cmd(
    text: Annotated[str, typer.Argument(help="The post, message or report text")],
    pool: PoolOpt = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON")] = False,
    date: Annotated[str | None, typer.Option("--date", help="When the text was posted (YYYY-MM-DD)")] = None,
) -> None:
    """Find the debunks a text repeats."""
    if not text.strip():
        _fail("empty text")
    hits = _guard(lambda: _matcher(pool).match(text, top_k=top_k, date=date))
    if as_json:
        print(json.dumps([asdict(h) for h in hits], ensure_ascii=False, indent=1))
        return
    table = Table(title="matching debunks")
    for col in ("id", "score", "band", "matched text", "why"):
        table.add_column(col, overflow="fold")
    for h in hits:
        table.add_row(h.id, f"{h.score:.3f}", h.band, h.matched_text, h.explanation)
    Console().print(table)


def scan_cmd(
    posts: Annotated[Path, typer.Argument(help="JSONL with id, text and optionally date (posted) per line")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output JSONL (appended to; resumes)")],
    pool: PoolOpt = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=16, help="Processes that match, this one included (the others forked from it)")] = 2,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=20)] = 3,
) -> None:
    """Scan a dump of posts against the debunks, resumably."""
    from qinglang.match.scan import count_lines, scan_file

    if not posts.is_file():
        _fail(f"file not found: {posts}")
    matcher = _guard(lambda: _matcher(pool))
    total = count_lines(posts)
    t0 = time.perf_counter()
    err = Console(stderr=True)
    with Progress(TextColumn("scan"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err) as bar:
        task = bar.add_task("scan", total=total)
        stats = _guard(lambda: scan_file(matcher, posts, out, workers=workers, top_k=top_k,
                                         on_progress=lambda n: bar.advance(task, n)))
        bar.update(task, completed=total)
    dt = time.perf_counter() - t0
    err.print(f"{stats.posts} posts scanned ({stats.skipped} already done, {stats.cached} from cache), "
              f"{stats.matched} with a `match`, {stats.posts / max(dt, 1e-9):.0f} posts/s")


def eval_match_cmd(
    pool: Annotated[Path, typer.Option("--pool", help="Claim pool JSONL")],
    queries: Annotated[Path, typer.Option("--queries", help="Queries TSV id<TAB>text")],
    qrels: Annotated[Path, typer.Option("--qrels", help="Qrels TSV qid 0 vclaim_id 1")],
    dates: Annotated[bool, typer.Option("--dates/--no-dates",
                                        help="Date queries by their embedded-tweet signature line")] = True,
) -> None:
    """Evaluate claim matching (CheckThat! 2A metrics)."""
    from qinglang.match import Matcher
    from qinglang.match.evaluate import load_pool, load_qrels, load_queries, metrics, rank_queries, summary_line

    def run() -> dict[str, float]:
        rel = load_qrels(qrels)
        qs = [q for q in load_queries(queries) if q[0] in rel]
        return metrics(rank_queries(Matcher(load_pool(pool)), qs, k=10, dates=dates), rel)

    m = _guard(run)
    table = Table(title="claim matching")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in m.items():
        table.add_row(k, f"{v:.4f}")
    Console().print(table)
    print(summary_line(m))


def register(app: typer.Typer) -> None:
    """Add ``match``, ``scan`` and ``eval match`` to the root app (reusing an existing ``eval`` group)."""
    app.command("match")(match_cmd)
    app.command("scan")(scan_cmd)
    eval_app = next((g.typer_instance for g in app.registered_groups if g.name == "eval"), None)
    if eval_app is None:
        eval_app = typer.Typer(no_args_is_help=True, help="Evaluate models on labelled files.")
        app.add_typer(eval_app, name="eval")
    eval_app.command("match")(eval_match_cmd)
