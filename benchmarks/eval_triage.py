"""Evaluate every triage detector on the shared labelled data sets and print one table.

Research models are trained in memory on each set's training split with the same features and
learner as the shipped models (`qinglang.triage.models.train_detector`); they are never saved. The
shipped model is also scored on sets it never saw (independent data), to show how it generalises.

    .venv/bin/python benchmarks/eval_triage.py [--data ../shared/data] [--seed 13]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from qinglang.triage import corpora
from qinglang.triage.analyze import Triage, default_triage
from qinglang.triage.evaluate import EvalReport, evaluate, report
from qinglang.triage.features import Featurizer
from qinglang.triage.linear import LinearTextModel
from qinglang.triage.models import train_detector, train_multiclass

Pairs = list[tuple[str, str]]


def split(pairs: Pairs, seed: int, test: float = 0.2) -> tuple[Pairs, Pairs]:
    """Seeded stratified split: the same seed gives the same rows on every run."""
    rng = random.Random(seed)
    by: dict[str, Pairs] = {}
    for p in pairs:
        by.setdefault(p[0], []).append(p)
    train, held = [], []
    for lab in sorted(by):
        rows = by[lab][:]
        rng.shuffle(rows)
        k = round(len(rows) * test)
        held += rows[:k]
        train += rows[k:]
    return train, held


def research(name: str, train: Pairs, test: Pairs, fz: Featurizer, *, C: float = 4.0,
             balanced: bool = False, weighting: str = "tfidf") -> EvalReport:
    model = train_detector(train, featurizer=fz, C=C, balanced=balanced, weighting=weighting)
    pred = _predict(model, [t for _, t in test], fz)
    return report(name, [y for y, _ in test], pred, positive="1")


def _predict(model: LinearTextModel, texts: Sequence[str], fz: Featurizer) -> list[str]:
    P = model.proba(fz.transform(texts))
    return [model.classes[i] for i in P.argmax(axis=1)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=corpora.DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)
    d: Path = args.data
    fz = Featurizer()
    rows: list[tuple[str, str, str, EvalReport, float]] = []

    def run(dataset: str, what: str, fn, metric: str = "f1") -> None:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        rep = fn()
        rows.append((dataset, what, metric, rep, time.perf_counter() - t))
        print(f"{dataset:28s} {what:38s} {rep.summary_line()}", file=sys.stderr)

    cold_tr = corpora.cold(d / "toxicity-zh/cold/train.csv")
    cold_dev = corpora.cold(d / "toxicity-zh/cold/dev.csv")
    run("COLD train→dev", "abuse (research model)", lambda: research("abuse", cold_tr, cold_dev, fz), "accuracy")

    zh_tr, zh_te = split(corpora.sms_zh(d / "spam/sms-zh-10k/sms_zh_10k.tsv"), args.seed)
    run("SMS-zh 10k 80/20", "spam (research model)",
        lambda: research("spam", zh_tr, zh_te, fz, balanced=True, weighting="nb"))

    uci_tr, uci_te = split(corpora.uci_sms(d / "spam/sms-uci-en/SMSSpamCollection.dev.tsv"), args.seed)
    run("UCI SMS dev 80/20", "spam (research model)",
        lambda: research("spam", uci_tr, uci_te, fz, balanced=True, weighting="nb"))

    tf = corpora.telecom_fraud(d / "fraud-zh/telecom-fraud-5")
    tf_tr, tf_te = split(tf, args.seed)
    binary = lambda ps: [("0" if y == "normal" else "1", t) for y, t in ps]  # noqa: E731
    run("telecom-fraud-5 80/20", "fraud binary (research model)",
        lambda: research("fraud", binary(tf_tr), binary(tf_te), fz))

    def five_way() -> EvalReport:
        m = train_multiclass(tf_tr, featurizer=fz)
        return report("fraud_type", [y for y, _ in tf_te], _predict(m, [t for _, t in tf_te], fz))

    run("telecom-fraud-5 80/20", "fraud 5-way type (research, macro)", five_way, "f1")

    wb_tr = corpora.weibo21(d / "rumor-zh/weibo21/train.jsonl")
    wb_val = corpora.weibo21(d / "rumor-zh/weibo21/val.jsonl")
    run("Weibo21 train→val", "misinfo (research model)", lambda: research("misinfo", wb_tr, wb_val, fz, C=2.0))

    # The shipped model on data it was never trained on (the research-only sets).
    shipped: Triage = default_triage()
    run("SMS-zh 10k held-out 20%", "spam (shipped model, unseen set)", lambda: evaluate("spam", zh_te, triage=shipped))
    run("telecom-fraud-5 held-out 20%", "fraud (shipped model, unseen set)",
        lambda: evaluate("fraud", binary(tf_te), triage=shipped))
    run("Weibo21 val", "misinfo (shipped model, unseen set)", lambda: evaluate("misinfo", wb_val, triage=shipped))

    table = Table(title=f"triage evaluation (seed {args.seed})")
    for col in ("data", "detector", "n", "accuracy", "precision", "recall", "F1", "s"):
        table.add_column(col, justify="left" if col in ("data", "detector") else "right")
    for dataset, what, _metric, rep, secs in rows:
        table.add_row(dataset, what, str(rep.n), f"{rep.accuracy:.4f}", f"{rep.precision:.4f}",
                      f"{rep.recall:.4f}", f"{rep.f1:.4f}", f"{secs:.1f}")
    Console(width=140).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
