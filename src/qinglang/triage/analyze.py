"""`analyze` / `analyze_many`: categories, detector scores with reasons, and indicators for texts.

Scores are probabilities from the models, adjusted in log-odds by hand-written cues and word lists,
so a reason can always be named. The misinformation score is advisory: it must never decide a case
alone, only order the queue for a human or for claim matching. Never touches the store or network.
"""

from __future__ import annotations

import math
import multiprocessing
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from qinglang.lifecycle import forks_with_one_math_thread
from qinglang.taxonomy import CATEGORY_CODES
from qinglang.text.indicators import Indicator, extract
from qinglang.text.normalize import detect_lang
from qinglang.triage.cues import FRAUD_CUES, FRAUD_TYPES, MISINFO_CUES, SPAM_CUES, fire
from qinglang.triage.features import CHAR_FEATURES, Featurizer, prepare
from qinglang.triage.lexicon import AbuseLexicon, default_lexicon
from qinglang.triage.linear import LinearTextModel
from qinglang.triage.models import TriageModels, default_models

THRESHOLD = 0.5
MAX_CHARS = 10_000
# Category ← detector whose score also counts as that category's probability (never misinfo: advisory).
DETECTOR_CATEGORY = {"fraud": "fraud", "hate": "abuse"}
# Below this model log-odds (p < 0.25%) cues could not lift a score past ~0.2, so they are not run.
CUE_GATE = -6.0
_CJK = re.compile(r"[\u4e00-\u9fff]")
LEXICON_WEIGHT = 1.5  # log-odds per abuse-list hit (at most two count)
# Spam cannot be judged from a single URL or phone alone, but scam links make fraud likelier.
INDICATOR_FRAUD_WEIGHT = {"bank_card": 0.7, "crypto": 0.7, "telegram": 0.3, "wechat": 0.3, "qq": 0.3}


@dataclass(frozen=True)
class DetectorResult:
    name: str
    score: float  # 0..1, calibrated probability after cue adjustment
    reason: str  # short, human-readable: cue, listed word or strongest n-grams
    label: str | None = None  # fraud: the fraud type code
    advisory: bool = False  # True for misinfo: never decides alone


@dataclass(frozen=True)
class TriageResult:
    lang: str
    categories: dict[str, float]  # every taxonomy code → probability
    detectors: dict[str, DetectorResult]
    indicators: list[Indicator] = field(default_factory=list)

    @property
    def top_category(self) -> str | None:
        """The most likely category, or None when nothing reaches the threshold."""
        code, p = max(self.categories.items(), key=lambda kv: kv[1])
        return code if p >= THRESHOLD else None

    def flagged(self) -> list[str]:
        return [n for n, d in self.detectors.items() if d.score >= THRESHOLD]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    z: np.ndarray = np.log(p / (1 - p))
    return z


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


class Triage:
    """Runs every model on a batch. Build once (loading is the slow part), call from many threads."""

    def __init__(self, models: TriageModels, lexicon: AbuseLexicon | None = None) -> None:
        self.models = models
        self.lexicon = lexicon or default_lexicon()

    def analyze(self, text: str) -> TriageResult:
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: Sequence[str], *, indicators: bool = True, workers: int = 1,
                     chunk: int = 500) -> list[TriageResult]:
        """Triage a batch. ``workers`` > 1 forks that many processes (bulk scans and the CLI only:
        never from a threaded server), each sharing the loaded models copy-on-write."""
        if workers > 1 and len(texts) > chunk:
            return _forked(self, list(texts), indicators, workers, chunk)
        return self._analyze_batch(texts, indicators)

    def _analyze_batch(self, texts: Sequence[str], indicators: bool) -> list[TriageResult]:
        if not texts:
            return []
        m = self.models
        # Scoring looks at the first MAX_CHARS characters: a report is short, a pasted dump must not stall a batch.
        texts = [t[:MAX_CHARS] for t in texts]
        prepared = [prepare(t) for t in texts]
        X = m.featurizer.transform_prepared(prepared)
        cats = m.categories.proba_matrix(X)
        W = {name: getattr(m, name).weighted(X) for name in ("fraud", "spam", "abuse", "misinfo")}
        z = {name: _logit(getattr(m, name).proba_weighted(w)[:, 1]) for name, w in W.items()}
        ftype = m.fraud_type.proba(X)
        out: list[TriageResult] = []
        for i, (text, prep) in enumerate(zip(texts, prepared, strict=True)):
            inds = extract(text) if indicators else []
            row = _Row(i, prep, W)
            dets = {
                "fraud": self._fraud(row, float(z["fraud"][i]), ftype[i], inds),
                "spam": self._spam(row, float(z["spam"][i])),
                "abuse": self._abuse(row, float(z["abuse"][i])),
                "misinfo": self._misinfo(row, float(z["misinfo"][i])),
            }
            categories = dict(zip(CATEGORY_CODES, map(float, cats[i]), strict=True))
            # The focused detectors (cues, word lists) are evidence for their category too.
            for code, det in DETECTOR_CATEGORY.items():
                categories[code] = max(categories[code], dets[det].score)
            out.append(TriageResult(
                lang=detect_lang(text),
                categories=categories,
                detectors=dets,
                indicators=inds,
            ))
        return out

    def _keywords(self, name: str, row: _Row) -> str:
        model: LinearTextModel = getattr(self.models, name)
        names = row.feature_names(self.models.featurizer)
        grams: list[str] = []
        for j, _ in model.contributions(row.weighted[name], row.i, "1")[:15]:
            g = names.get(j, "").strip()
            # Latin character n-grams ("xt", "o 0") explain nothing; words and Chinese n-grams do.
            if len(g) < 2 or (j < CHAR_FEATURES and not _CJK.search(g)) or any(g in o or o in g for o in grams):
                continue
            grams.append(g)
            if len(grams) == 3:
                break
        return "keywords: " + ", ".join(grams) if grams else "model score"

    def _plain(self, name: str, row: _Row, z: float) -> DetectorResult:
        score = _sigmoid(z)
        reason = self._keywords(name, row) if score >= THRESHOLD else "no strong signal"
        return DetectorResult(name, score, reason)

    def _spam(self, row: _Row, z: float) -> DetectorResult:
        fired = fire(SPAM_CUES, row.prepared) if z > CUE_GATE else []
        z += sum(c.weight for c, _ in fired)
        score = _sigmoid(z)
        if score < THRESHOLD:
            return DetectorResult("spam", score, "no strong signal")
        if fired:
            return DetectorResult("spam", score, "cues: " + ", ".join(f"{c.name} “{m[:20]}”" for c, m in fired[:2]))
        return DetectorResult("spam", score, self._keywords("spam", row))

    def _fraud(self, row: _Row, z: float, type_proba: np.ndarray, inds: list[Indicator]) -> DetectorResult:
        fired = fire(FRAUD_CUES, row.prepared) if z > CUE_GATE else []
        z += sum(c.weight for c, _ in fired[:2])
        kinds = {i.kind for i in inds}
        z += sum(w for k, w in INDICATOR_FRAUD_WEIGHT.items() if k in kinds)
        score = _sigmoid(z)
        if score < THRESHOLD:
            return DetectorResult("fraud", score, "no strong signal")
        votes = dict(zip(self.models.fraud_type.classes, map(float, type_proba), strict=True))
        for c, _ in fired:
            votes[c.name] = votes.get(c.name, 0.0) + 1.0
        ftype = max(votes, key=lambda k: votes[k])
        if fired:
            cue, snippet = fired[0]
            reason = f"{FRAUD_TYPES[cue.name][1]}: “{snippet[:30]}”"
        else:
            reason = self._keywords("fraud", row)
        return DetectorResult("fraud", score, reason, label=ftype)

    def _abuse(self, row: _Row, z: float) -> DetectorResult:
        hits = self.lexicon.find(row.prepared)
        z += LEXICON_WEIGHT * min(len(hits), 2)
        score = _sigmoid(z)
        if score < THRESHOLD:
            return DetectorResult("abuse", score, "no strong signal")
        if hits:
            words = list(dict.fromkeys(h.word for h in hits))[:3]
            return DetectorResult("abuse", score, "listed words: " + ", ".join(words))
        return DetectorResult("abuse", score, self._keywords("abuse", row))

    def _misinfo(self, row: _Row, z: float) -> DetectorResult:
        fired = fire(MISINFO_CUES, row.prepared) if z > CUE_GATE else []
        z += sum(c.weight for c, _ in fired)
        score = _sigmoid(z)
        if score < THRESHOLD:
            return DetectorResult("misinfo", score, "no strong signal", advisory=True)
        reason = ("style cues: " + ", ".join(c.name for c, _ in fired[:3])) if fired else \
            self._keywords("misinfo", row)
        return DetectorResult("misinfo", score, reason + " (advisory)", advisory=True)


@dataclass
class _Row:
    i: int
    prepared: str
    weighted: dict[str, sp.csr_matrix]
    names: dict[int, str] | None = None  # feature column -> n-gram or word, built once for all detectors

    def feature_names(self, featurizer: Featurizer) -> dict[int, str]:
        if self.names is None:
            self.names = featurizer.named_features(self.prepared)
        return self.names


_FORKED: Triage | None = None


def _forked_chunk(args: tuple[list[str], bool]) -> list[TriageResult]:
    assert _FORKED is not None
    return _FORKED._analyze_batch(args[0], args[1])


def _forked(triage: Triage, texts: list[str], indicators: bool, workers: int, chunk: int) -> list[TriageResult]:
    global _FORKED
    _FORKED = triage  # inherited by the forked children; nothing is pickled but texts and results
    parts = [(texts[i: i + chunk], indicators) for i in range(0, len(texts), chunk)]
    # One BLAS/OpenMP thread each, inherited (see `lifecycle.forks_with_one_math_thread`): the workers fill the cores.
    with forks_with_one_math_thread(), multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_forked_chunk, parts)
    return [r for part in results for r in part]


@lru_cache(maxsize=1)
def default_triage() -> Triage:
    """The shipped models, loaded once per process."""
    return Triage(default_models())


def analyze(text: str) -> TriageResult:
    """Triage one text with the shipped models."""
    return default_triage().analyze(text)


def analyze_many(texts: Sequence[str], *, indicators: bool = True, workers: int = 1) -> list[TriageResult]:
    """Triage a batch with the shipped models (much faster per text than `analyze` in a loop)."""
    return default_triage().analyze_many(texts, indicators=indicators, workers=workers)
