"""Linear text models over the shared hashed features: tf-idf weighting + logistic regression.

One class serves binary detectors, multi-class models (fraud type) and, one per label, the multi-label
category model. Logistic regression gives usable probabilities and per-feature weights that explain a
score. Never featurises text itself: callers pass the matrix from `features.Featurizer`, computed once
per batch.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from qinglang.errors import Invalid

_TRANSPOSED: dict[int, tuple[weakref.ref[np.ndarray], np.ndarray]] = {}


def transposed(coef: np.ndarray) -> np.ndarray:
    """``coef.T`` as a C-contiguous array, made once per coefficient array: a sparse matrix times the transposed
    view copied the whole (features × classes) matrix on every call, about 1 ms per batch and model."""
    hit = _TRANSPOSED.get(id(coef))
    if hit is not None and hit[0]() is coef:
        return hit[1]
    t = np.ascontiguousarray(coef.T)
    key = id(coef)
    _TRANSPOSED[key] = (weakref.ref(coef, lambda _: _TRANSPOSED.pop(key, None)), t)  # forgotten with the model
    return t


def tfidf(transformer: TfidfTransformer, X: sp.csr_matrix) -> sp.csr_matrix:
    """``transformer.transform(X)``: for a fitted sublinear, L2-normalised transformer (as `fit` makes them) the same
    arithmetic without scikit-learn's input validation (most of its cost on a batch of reports, paid per model and
    batch); any other transformer through its own `transform`."""
    if not (transformer.sublinear_tf and transformer.norm == "l2" and sp.isspmatrix_csr(X)):
        return transformer.transform(X)
    out = sp.csr_matrix(X, copy=True)
    np.log(out.data, out.data)
    out.data += 1.0
    out.data *= transformer.idf_[out.indices]
    inplace_csr_row_normalize_l2(out)
    return out


@dataclass
class LinearTextModel:
    """Weighted features + logistic regression; ``classes`` are the label values in column order.

    ``weighting`` is ``"tfidf"`` (sublinear tf-idf) or, for binary tasks, ``"nb"``: binary presence
    scaled by the naive-Bayes log-count ratio and L2-normalised (Wang & Manning's NB-LR), which suits
    short messages such as SMS.
    """

    C: float = 4.0
    class_weight: str | None = None
    weighting: str = "tfidf"
    classes: list[str] = field(default_factory=list)
    _tfidf: TfidfTransformer | None = None
    _nb_r: np.ndarray | None = None
    _lr: LogisticRegression | None = None

    def fit(self, X: sp.csr_matrix, y: Sequence[str]) -> LinearTextModel:
        labels = sorted(set(y))
        if len(labels) < 2:
            raise Invalid(f"training needs at least two classes, got {labels}", field="label")
        ya = np.asarray(y)
        if self.weighting == "nb":
            if len(labels) != 2:
                raise Invalid("nb weighting needs exactly two classes", field="label")
            B = (X > 0).astype(np.float32)
            pos = np.asarray(B[ya == labels[1]].sum(axis=0)).ravel() + 1.0
            neg = np.asarray(B[ya == labels[0]].sum(axis=0)).ravel() + 1.0
            self._nb_r = np.log((pos / pos.sum()) / (neg / neg.sum())).astype(np.float32)
        elif self.weighting == "tfidf":
            self._tfidf = TfidfTransformer(sublinear_tf=True).fit(X)
            self._tfidf.idf_ = self._tfidf.idf_.astype(np.float32)
        else:
            raise Invalid(f"unknown weighting {self.weighting!r}", field="weighting")
        self._lr = LogisticRegression(C=self.C, max_iter=3000, class_weight=self.class_weight)
        self._lr.fit(self.weighted(X), ya)
        self._lr.coef_ = self._lr.coef_.astype(np.float32)  # float32 halves the artefact
        self.classes = [str(c) for c in self._lr.classes_]
        return self

    def weighted(self, X: sp.csr_matrix) -> sp.csr_matrix:
        if self._nb_r is not None:
            B = (X > 0).astype(np.float32).multiply(self._nb_r).tocsr()
            inplace_csr_row_normalize_l2(B)  # sklearn's `normalize` without its input validation
            return B
        if self._tfidf is None:
            raise Invalid("model is not trained", field="model")
        return tfidf(self._tfidf, X)

    def proba(self, X: sp.csr_matrix) -> np.ndarray:
        """(n, len(classes)) probabilities from raw (unweighted) features."""
        return self.proba_weighted(self.weighted(X))

    def proba_weighted(self, W: sp.csr_matrix) -> np.ndarray:
        """Probabilities from features already passed through `weighted` (saves work in batches)."""
        assert self._lr is not None
        z = np.asarray(W @ transposed(self._lr.coef_), dtype=np.float64) + self._lr.intercept_
        if z.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.column_stack([1.0 - p, p])
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out

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
