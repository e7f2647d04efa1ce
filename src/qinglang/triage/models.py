"""The bundle of trained triage models, its training helpers, and the shipped artefact on disk.

Never trains at import time and never loads anything but the artefact file it is given (default:
`artefacts/triage-default.joblib`, built by `python -m qinglang.triage.build_default`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import joblib

from qinglang.errors import Invalid, NotFound
from qinglang.triage.categories import CategoryModel
from qinglang.triage.data import parse_binary
from qinglang.triage.features import Featurizer
from qinglang.triage.linear import LinearTextModel

ARTEFACT_DIR = Path(__file__).parent / "artefacts"
DEFAULT_ARTEFACT = ARTEFACT_DIR / "triage-default.joblib"
FORMAT_VERSION = 1
DETECTORS = ("fraud", "spam", "abuse", "misinfo")


@dataclass
class TriageModels:
    featurizer: Featurizer
    categories: CategoryModel
    fraud: LinearTextModel
    fraud_type: LinearTextModel
    spam: LinearTextModel
    abuse: LinearTextModel
    misinfo: LinearTextModel
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path, *, compact: bool = True) -> Path:
        """Write the bundle; ``compact`` (xz) for the shipped file, else quick zlib for retrained ones."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"format": FORMAT_VERSION, "models": self}, p, compress=("xz", 6) if compact else ("zlib", 3))
        return p


def load_models(path: str | Path | None = None) -> TriageModels:
    """Load a model bundle; raises `NotFound` / `Invalid` with one readable message."""
    p = Path(path) if path else DEFAULT_ARTEFACT
    if p.is_dir():
        p = p / DEFAULT_ARTEFACT.name
    if not p.is_file():
        raise NotFound(f"no triage model at {p}; build it with `python -m qinglang.triage.build_default`",
                       field="model")
    obj = joblib.load(p)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_VERSION or not isinstance(obj.get("models"),
                                                                                          TriageModels):
        raise Invalid(f"{p} is not a qinglang triage model (format {FORMAT_VERSION})", field="model")
    models: TriageModels = obj["models"]
    return models


@lru_cache(maxsize=1)
def default_models() -> TriageModels:
    return load_models(DEFAULT_ARTEFACT)


def train_detector(pairs: Iterable[tuple[str, str]], *, featurizer: Featurizer | None = None,
                   C: float = 4.0, balanced: bool = False, weighting: str = "tfidf") -> LinearTextModel:
    """A binary detector from (label, text) pairs, label 1 = positive, 0 = negative."""
    fz = featurizer or Featurizer()
    ys, texts = _split(pairs, parse_binary)
    model = LinearTextModel(C=C, class_weight="balanced" if balanced else None, weighting=weighting)
    return model.fit(fz.transform(texts), ys)


def train_multiclass(pairs: Iterable[tuple[str, str]], *, featurizer: Featurizer | None = None,
                     C: float = 4.0) -> LinearTextModel:
    """A multi-class model (e.g. fraud type) from (label, text) pairs."""
    fz = featurizer or Featurizer()
    ys, texts = _split(pairs, lambda s: s.strip())
    return LinearTextModel(C=C, class_weight="balanced").fit(fz.transform(texts), ys)


def _split(pairs: Iterable[tuple[str, str]], parse: Any) -> tuple[list[str], list[str]]:
    ys: list[str] = []
    texts: list[str] = []
    for lab, text in pairs:
        if text and text.strip():
            ys.append(parse(lab))
            texts.append(text)
    if not texts:
        raise Invalid("no labelled texts to train on", field="data")
    return ys, texts
