"""The multi-label category classifier over the report taxonomy, and active-learning ordering.

One tf-idf weighting and one balanced logistic regression per category (one-vs-rest), so a text can be
both `fraud` and `rumor`, and a harmless text scores low everywhere. Trains from (labels, text) pairs,
which is how reviewers' decisions from the store come in. Never decides a case: it ranks and suggests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from qinglang.errors import Invalid
from qinglang.taxonomy import CATEGORY_CODES
from qinglang.triage.data import parse_categories
from qinglang.triage.features import Featurizer
from qinglang.triage.linear import tfidf, transposed

LabelsLike = str | Sequence[str]


def as_codes(labels: LabelsLike) -> tuple[str, ...]:
    if isinstance(labels, str):
        return parse_categories(labels)
    return parse_categories(",".join(labels)) if labels else ()


@dataclass
class CategoryModel:
    featurizer: Featurizer = field(default_factory=Featurizer)
    C: float = 4.0
    codes: list[str] = field(default_factory=list)  # categories the model has seen positives for
    _tfidf: TfidfTransformer | None = None
    _coef: np.ndarray | None = None  # (len(codes), n_features) float32
    _intercept: np.ndarray | None = None

    def fit_matrix(self, X: sp.csr_matrix, labels: Sequence[tuple[str, ...]]) -> CategoryModel:
        seen = [c for c in CATEGORY_CODES if any(c in ls for ls in labels)]
        if not seen:
            raise Invalid("no category labels in the training data", field="label")
        self._tfidf = TfidfTransformer(sublinear_tf=True).fit(X)
        Xt = self._tfidf.transform(X)
        self._tfidf.idf_ = self._tfidf.idf_.astype(np.float32)
        coefs, ints = [], []
        for code in seen:
            y = np.array([code in ls for ls in labels], dtype=np.int8)
            if y.all():
                raise Invalid(f"every example is {code!r}; add examples of other categories or none",
                              field="label")
            lr = LogisticRegression(C=self.C, max_iter=3000, class_weight="balanced", solver="liblinear").fit(Xt, y)
            coefs.append(lr.coef_[0].astype(np.float32))
            ints.append(float(lr.intercept_[0]))
        self.codes = seen
        self._coef = np.vstack(coefs)
        self._intercept = np.array(ints, dtype=np.float32)
        return self

    def proba_matrix(self, X: sp.csr_matrix) -> np.ndarray:
        """(n, len(CATEGORY_CODES)) probabilities; categories never trained get 0."""
        if self._tfidf is None or self._coef is None or self._intercept is None:
            raise Invalid("category model is not trained", field="model")
        z = np.asarray(tfidf(self._tfidf, X) @ transposed(self._coef)) + self._intercept
        p = 1.0 / (1.0 + np.exp(-z))
        out = np.zeros((X.shape[0], len(CATEGORY_CODES)), dtype=np.float64)
        for j, code in enumerate(self.codes):
            out[:, CATEGORY_CODES.index(code)] = p[:, j]
        return out

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text, {category code: probability} over the whole taxonomy."""
        P = self.proba_matrix(self.featurizer.transform(texts))
        return [dict(zip(CATEGORY_CODES, map(float, row), strict=True)) for row in P]

    def top_features(self, prepared: str, x_row: sp.csr_matrix, code: str, k: int = 3) -> list[str]:
        """The n-grams of the text that push it most towards ``code`` (longest first among ties)."""
        if code not in self.codes or self._tfidf is None or self._coef is None:
            return []
        w = tfidf(self._tfidf, x_row)
        coef = self._coef[self.codes.index(code)]
        contrib = sorted(((float(v * coef[j]), int(j)) for j, v in zip(w.indices, w.data, strict=True)),
                         reverse=True)
        names = self.featurizer.named_features(prepared)
        return _distinct([names[j] for c, j in contrib[: 4 * k] if c > 0 and j in names], k)


def _distinct(grams: list[str], k: int) -> list[str]:
    # Drop n-grams contained in a stronger one already chosen ("诈" inside "诈骗"), keep order.
    out: list[str] = []
    for g in grams:
        g = g.strip()
        if len(g) < 2 or any(g in o or o in g for o in out):
            continue
        out.append(g)
        if len(out) == k:
            break
    return out


def train_category_model(
    pairs: Iterable[tuple[LabelsLike, str]], *, featurizer: Featurizer | None = None, C: float = 4.0
) -> CategoryModel:
    """Train on (labels, text) pairs; labels are a code, 'a,b', a sequence of codes, or 'none'/()."""
    labels: list[tuple[str, ...]] = []
    texts: list[str] = []
    for lab, text in pairs:
        if text and text.strip():
            labels.append(as_codes(lab))
            texts.append(text)
    if len(texts) < 4:
        raise Invalid(f"need at least 4 labelled texts, got {len(texts)}", field="data")
    model = CategoryModel(featurizer=featurizer or Featurizer(), C=C)
    return model.fit_matrix(model.featurizer.transform(texts), labels)


def uncertainty(probs: np.ndarray | Sequence[dict[str, float]]) -> np.ndarray:
    """Per row, how unsure the model is: 1 − |2p − 1| of the category nearest to 0.5 (1 = coin toss)."""
    P = np.array([[d[c] for c in CATEGORY_CODES] for d in probs]) if not isinstance(probs, np.ndarray) else probs
    if P.size == 0:
        return np.zeros(0)
    u: np.ndarray = (1.0 - np.abs(2.0 * P - 1.0)).max(axis=1)
    return u


def uncertain_first(probs: np.ndarray | Sequence[dict[str, float]]) -> list[int]:
    """Row indices ordered most-uncertain first (ties keep input order): what reviewers should label next."""
    u = uncertainty(probs)
    return [int(i) for i in np.argsort(-u, kind="stable")]
