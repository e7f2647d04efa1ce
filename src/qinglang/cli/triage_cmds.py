"""CLI commands for triage: ``triage analyze``, ``triage eval`` and ``triage train``.

Thin: parse arguments, call ``qinglang.triage``, render with rich. Errors become one readable line on
stderr and exit code 1. Never implements model logic here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from qinglang.cli.common import cli_errors, console

triage_app = typer.Typer(no_args_is_help=True, help="Classify and score texts; evaluate and retrain models.")

ModelOpt = Annotated[Path | None, typer.Option("--model", help="Model bundle (.joblib); default: shipped model")]


def _triage(model: Path | None):  # type: ignore[no-untyped-def]
    from qinglang.triage.analyze import Triage, default_triage
    from qinglang.triage.models import load_models

    return Triage(load_models(model)) if model else default_triage()


@triage_app.command("analyze")
@cli_errors
def analyze_cmd(
    texts: Annotated[list[str], typer.Argument(help="Texts to analyse")],
    model: ModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Categories, detector scores with reasons, and indicators for each text."""
    for text, r in zip(texts, _triage(model).analyze_many(texts), strict=True):
        if as_json:
            typer.echo(json.dumps({
                "text": text, "lang": r.lang, "top_category": r.top_category,
                "categories": {k: round(v, 4) for k, v in r.categories.items()},
                "detectors": {k: {"score": round(d.score, 4), "reason": d.reason, "label": d.label,
                                  "advisory": d.advisory} for k, d in r.detectors.items()},
                "indicators": [{"kind": i.kind, "value": i.value, "raw": i.raw, "span": list(i.span)}
                               for i in r.indicators],
            }, ensure_ascii=False))
            continue
        t = Table(title=text[:60], show_header=True)
        t.add_column("what")
        t.add_column("score", justify="right")
        t.add_column("reason")
        top = sorted(r.categories.items(), key=lambda kv: -kv[1])[:3]
        for code, p in top:
            t.add_row(f"category {code}", f"{p:.3f}", "")
        for name, d in r.detectors.items():
            t.add_row(name + (f" ({d.label})" if d.label else ""), f"{d.score:.3f}", d.reason)
        for i in r.indicators:
            t.add_row(f"indicator {i.kind}", "", i.value)
        console.print(t)


@triage_app.command("eval")
@cli_errors
def eval_cmd(
    detector: Annotated[str, typer.Option("--detector", help="fraud, spam, abuse, misinfo or category")],
    data: Annotated[Path, typer.Option("--data", help="TSV with header label<TAB>text")],
    model: ModelOpt = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes for scoring")] = 1,
) -> None:
    """Accuracy, precision, recall, F1 and the confusion matrix; the last line is machine-readable."""
    from qinglang.errors import Invalid
    from qinglang.triage.data import read_tsv
    from qinglang.triage.evaluate import EVAL_NAMES, evaluate

    if detector not in EVAL_NAMES:
        raise Invalid(f"unknown detector {detector!r}; expected one of {', '.join(EVAL_NAMES)}",
                      field="detector")
    rep = evaluate(detector, read_tsv(data), triage=_triage(model), workers=workers)
    m = Table(title=f"{detector} on {data.name} (n={rep.n})")
    for col in ("accuracy", "precision", "recall", "f1"):
        m.add_column(col, justify="right")
    m.add_row(*(f"{getattr(rep, c):.4f}" for c in ("accuracy", "precision", "recall", "f1")))
    console.print(m)
    cm = Table(title="confusion (rows gold, columns predicted)")
    cm.add_column("gold \\ pred")
    for lab in rep.labels:
        cm.add_column(lab, justify="right")
    for lab, row in zip(rep.labels, rep.confusion, strict=True):
        cm.add_row(lab, *map(str, row))
    console.print(cm)
    typer.echo(rep.summary_line())


@triage_app.command("train")
@cli_errors
def train_cmd(
    data: Annotated[list[Path] | None, typer.Option("--data", help="TSV label<TAB>text; repeatable")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output directory or .joblib file")] = Path("triage-model"),
    no_seed: Annotated[bool, typer.Option("--no-seed", help="Do not add the shipped seed lines")] = False,
    from_db: Annotated[bool, typer.Option("--from-db", help="Add reviewers' decisions from the database "
                                                             "(QINGLANG_DATABASE_URL)")] = False,
    model: ModelOpt = None,
) -> None:
    """Retrain the category model on seed lines plus the given files (and staff decisions); other detectors
    are kept. Point QINGLANG_TRIAGE_MODEL at the output to use it."""
    from qinglang.triage.models import load_models
    from qinglang.triage.train import retrain, save_bundle

    extra: list[tuple[tuple[str, ...], str]] = []
    if from_db:
        from qinglang.cases.training import decided_examples
        from qinglang.cli.common import migrated_database

        with migrated_database() as db, db.read() as s:
            extra = decided_examples(s)
        console.print(f"{len(extra)} labelled text(s) from staff decisions")
    base = load_models(model) if model else None
    bundle = retrain(data or [], extra=extra, include_seed=not no_seed, base=base)
    path = save_bundle(bundle, out)
    console.print(f"category model trained on {bundle.meta['categories_retrained_from']['pairs']} texts "
                  f"({', '.join(bundle.categories.codes)})")
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(triage_app, name="triage")
