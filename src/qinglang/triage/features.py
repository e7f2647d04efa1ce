"""Text features shared by every triage model: hashed character n-grams plus Latin word n-grams.

Hashing keeps the feature space fixed, so there is no vocabulary to ship and one feature matrix per
batch serves all detectors. Never fits anything here: weighting (tf-idf) belongs to each model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from qinglang.text.normalize import normalize

CHAR_FEATURES = 2**18
WORD_FEATURES = 2**17
WORD_PATTERN = r"(?u)\b[a-z][a-z0-9']+\b|\b\d+\b"
_LATIN_WORD = re.compile(WORD_PATTERN)
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
# Runs of real or masked ("xxxx") digits keep only their length: an 11-digit run is a phone number,
# 16-19 a card, 6 a code, whatever the digits were. Lengths above 20 share one token.
_DIGITS = re.compile(r"\d{3,}|[xX]{3,}")


def _digit_token(m: re.Match[str]) -> str:
    return f" #{min(len(m.group(0)), 20)}# "


def prepare(text: str) -> str:
    """The form every model sees: `normalize`d, digit runs of 3+ replaced by a length token."""
    return _DIGITS.sub(_digit_token, normalize(text))


def _latin_words(text: str) -> list[str]:
    words = _LATIN_WORD.findall(text)
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def _hashed(vectorizer: HashingVectorizer, docs: Sequence[str]) -> sp.csr_matrix:
    """``vectorizer.transform(docs)`` for a vectorizer without normalisation or binary counts: its analyser's
    n-grams paired with a count of 1 by `zip` (the vectorizer pairs them in a generator expression, which took
    as long as the hashing itself), hashed by the same FeatureHasher."""
    assert vectorizer.norm is None and not vectorizer.binary
    analyze = vectorizer.build_analyzer()
    hasher = FeatureHasher(n_features=vectorizer.n_features, input_type="pair", dtype=vectorizer.dtype,
                           alternate_sign=vectorizer.alternate_sign)
    return sp.csr_matrix(hasher.transform(zip(analyze(d), repeat(1)) for d in docs))


@dataclass(frozen=True)
class Featurizer:
    """Stateless: the same instance (or parameters) gives the same columns in training and serving."""

    char_ngrams: tuple[int, int] = (1, 3)

    def _char(self) -> HashingVectorizer:
        return HashingVectorizer(analyzer="char", ngram_range=self.char_ngrams, n_features=CHAR_FEATURES,
                                 alternate_sign=False, norm=None, lowercase=False, dtype=np.float32)

    def _word(self) -> HashingVectorizer:
        return HashingVectorizer(analyzer="word", token_pattern=WORD_PATTERN, ngram_range=(1, 2),
                                 n_features=WORD_FEATURES, alternate_sign=False, norm=None, lowercase=False,
                                 dtype=np.float32)

    def transform_prepared(self, prepared: Sequence[str]) -> sp.csr_matrix:
        return sp.hstack([_hashed(self._char(), prepared), _hashed(self._word(), prepared)], format="csr")

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.transform_prepared([prepare(t) for t in texts])

    @property
    def n_features(self) -> int:
        return CHAR_FEATURES + WORD_FEATURES

    def named_features(self, prepared: str) -> dict[int, str]:
        """Column index → the Chinese n-gram or Latin word of ``prepared`` that lands there.

        Only the explainable features are named (Latin character n-grams are skipped), which keeps
        explanations cheap enough to give for every flagged text.
        """
        out: dict[int, str] = {}
        lo, hi = self.char_ngrams
        for run in _CJK_RUN.findall(prepared):
            for n in range(max(lo, 2), hi + 1):
                for i in range(len(run) - n + 1):
                    g = run[i: i + n]
                    out.setdefault(abs(murmurhash3_32(g, seed=0)) % CHAR_FEATURES, g)
        for w in _latin_words(prepared):
            out.setdefault(CHAR_FEATURES + abs(murmurhash3_32(w, seed=0)) % WORD_FEATURES, w)
        return out
