"""Evaluation of the detectors and the category model on labelled texts (``label<TAB>text``).

Binary detectors: label 1 = positive, 0 = negative, predicted positive when the score is >= 0.5.
Category: the label is a category code (or ``none``); the prediction is the top category, or ``none``
when no category reaches 0.5; precision, recall and F1 are macro averages over the gold labels.
Never trains: it measures whatever `Triage` it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from qinglang.errors import Invalid
from qinglang.triage.analyze import Triage, default_triage
from qinglang.triage.categories import as_codes
from qinglang.triage.data import parse_binary
from qinglang.triage.models import DETECTORS

EVAL_NAMES = (*DETECTORS, "category")


@dataclass(frozen=True)
class EvalReport:
    detector: str
    n: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    labels: list[str]
    confusion: list[list[int]]  # rows gold, columns predicted, in `labels` order

    def summary_line(self) -> str:
        return (f"accuracy={self.accuracy:.4f} precision={self.precision:.4f} "
                f"recall={self.recall:.4f} f1={self.f1:.4f}")


def report(detector: str, gold: Sequence[str], pred: Sequence[str], *, positive: str | None = None) -> EvalReport:
    """Metrics for predictions; binary (F1 of ``positive``) when given, else macro over gold labels."""
    if not gold:
        raise Invalid("nothing to evaluate", field="data")
    labels = sorted(set(gold) | set(pred))
    if positive is not None:
        labels = sorted(set(labels) | {"0", "1"})
        p, r, f, _ = precision_recall_fscore_support(gold, pred, average="binary", pos_label=positive,
                                                     zero_division=0)
    else:
        p, r, f, _ = precision_recall_fscore_support(gold, pred, average="macro", labels=sorted(set(gold)),
                                                     zero_division=0)
    cm = confusion_matrix(gold, pred, labels=labels)
    return EvalReport(detector, len(gold), float(accuracy_score(gold, pred)), float(p), float(r), float(f),
                      labels, cm.tolist())


def evaluate(detector: str, pairs: Sequence[tuple[str, str]], *, triage: Triage | None = None,
             workers: int = 1) -> EvalReport:
    """Run ``detector`` (fraud, spam, abuse, misinfo or category) over (label, text) pairs."""
    if detector not in EVAL_NAMES:
        raise Invalid(f"unknown detector {detector!r}; expected one of {', '.join(EVAL_NAMES)}", field="detector")
    tri = triage or default_triage()
    texts = [t for _, t in pairs]
    if detector == "category":
        gold = []
        for lab, _ in pairs:
            codes = as_codes(lab)
            if len(codes) > 1:
                raise Invalid(f"category evaluation takes one code per line, got {lab!r}", field="label")
            gold.append(codes[0] if codes else "none")
        results = tri.analyze_many(texts, indicators=False, workers=workers)
        pred = [r.top_category or "none" for r in results]
        return report(detector, gold, pred)
    gold = [parse_binary(lab) for lab, _ in pairs]
    results = tri.analyze_many(texts, indicators=detector == "fraud", workers=workers)
    pred = ["1" if r.detectors[detector].score >= 0.5 else "0" for r in results]
    return report(detector, gold, pred, positive="1")
