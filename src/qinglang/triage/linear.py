"""Linear text models over the shared hashed features: tf-idf weighting + logistic regression.

One class serves binary detectors, multi-class models (fraud type) and, one per label, the multi-label
category model. Logistic regression gives usable probabilities and per-feature weights that explain a
score. Never featurises text itself: callers pass the matrix from `features.Featurizer`, computed once
per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from qinglang.errors import Invalid


@dataclass
class LinearTextModel:
    """tf-idf + logistic regression; ``classes`` are the label values in column order."""

    C: float = 4.0
    class_weight: str | None = None
    classes: list[str] = field(default_factory=list)
    _tfidf: TfidfTransformer | None = None
    _lr: LogisticRegression | None = None

    def fit(self, X: sp.csr_matrix, y: Sequence[str]) -> LinearTextModel:
        labels = sorted(set(y))
        if len(labels) < 2:
            raise Invalid(f"training needs at least two classes, got {labels}", field="label")
        self._tfidf = TfidfTransformer(sublinear_tf=True).fit(X)
        Xt = self._tfidf.transform(X)
        self._lr = LogisticRegression(C=self.C, max_iter=3000, class_weight=self.class_weight)
        self._lr.fit(Xt, np.asarray(y))
        self.classes = [str(c) for c in self._lr.classes_]
        self._compact()
        return self

    def _compact(self) -> None:
        # float32 and dropped idf entries for unseen columns keep the artefact small.
        assert self._lr is not None and self._tfidf is not None
        self._lr.coef_ = self._lr.coef_.astype(np.float32)
        self._tfidf.idf_ = self._tfidf.idf_.astype(np.float32)

    def weighted(self, X: sp.csr_matrix) -> sp.csr_matrix:
        if self._tfidf is None:
            raise Invalid("model is not trained", field="model")
        return self._tfidf.transform(X)

    def proba(self, X: sp.csr_matrix) -> np.ndarray:
        """(n, len(classes)) probabilities from raw (unweighted) features."""
        return self.proba_weighted(self.weighted(X))

    def proba_weighted(self, W: sp.csr_matrix) -> np.ndarray:
        """Probabilities from features already passed through `weighted` (saves work in batches)."""
        assert self._lr is not None
        z = np.asarray(W @ self._lr.coef_.T, dtype=np.float64) + self._lr.intercept_
        if z.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.column_stack([1.0 - p, p])
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def positive_proba(self, X: sp.csr_matrix, positive: str = "1") -> np.ndarray:
        return self.proba(X)[:, self.classes.index(positive)]

    def contributions(self, W: sp.csr_matrix, i: int, cls: str, k: int = 15) -> list[tuple[int, float]]:
        """(column, weight × value) for row ``i`` of weighted features, largest push towards ``cls`` first."""
        assert self._lr is not None
        coef = self._lr.coef_
        if coef.shape[0] == 1:
            row = coef[0] if cls == self.classes[1] else -coef[0]
        else:
            row = coef[self.classes.index(cls)]
        a, b = W.indptr[i], W.indptr[i + 1]
        idx = W.indices[a:b]
        c = W.data[a:b] * row[idx]
        top = np.argpartition(-c, k - 1)[:k] if len(c) > k else np.arange(len(c))
        top = top[np.argsort(-c[top])]
        return [(int(idx[t]), float(c[t])) for t in top if c[t] > 0]
