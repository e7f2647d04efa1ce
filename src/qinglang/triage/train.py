"""Retraining the category model from labelled files and from reviewers' decisions.

`retrain` takes (labels, text) pairs from any source (TSV files, the store) and writes a full model
bundle whose other detectors are kept from the base bundle. Never writes over the shipped artefact
unless the caller names that path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from qinglang.triage.categories import LabelsLike, train_category_model
from qinglang.triage.data import read_tsv, seed_path
from qinglang.triage.models import DEFAULT_ARTEFACT, TriageModels, default_models


def seed_pairs() -> list[tuple[str, str]]:
    """The shipped seed lines as category pairs (fraud-type lines count as `fraud`)."""
    pairs = read_tsv(seed_path("categories_zh.tsv")) + read_tsv(seed_path("categories_en.tsv"))
    return pairs + [("fraud", t) for _, t in read_tsv(seed_path("fraud_types.tsv"))]


def retrain(
    paths: Sequence[str | Path] = (),
    *,
    extra: Iterable[tuple[LabelsLike, str]] = (),
    include_seed: bool = True,
    base: TriageModels | None = None,
) -> TriageModels:
    """A bundle whose category model is trained on seeds + ``paths`` (TSV) + ``extra`` pairs.

    ``extra`` is how reviewer decisions enter: ``[(("fraud",), text), ("none", text), ...]``.
    """
    pairs: list[tuple[LabelsLike, str]] = list(seed_pairs()) if include_seed else []
    for p in paths:
        pairs.extend(read_tsv(p))
    pairs.extend(extra)
    b = base or default_models()
    categories = train_category_model(pairs, featurizer=b.featurizer)
    meta = dict(b.meta)
    meta["categories_retrained_from"] = {"files": [str(p) for p in paths], "pairs": len(pairs)}
    return replace(b, categories=categories, meta=meta)


def save_bundle(models: TriageModels, out: str | Path) -> Path:
    """Save to ``out`` (a directory gets the default file name)."""
    p = Path(out)
    if p.suffix != ".joblib":
        p = p / DEFAULT_ARTEFACT.name
    return models.save(p, compact=False)
