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

from qinglang.arrays import fmix32
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


_WHITE_SPACES = re.compile(r"\s\s+")  # what scikit-learn's analysers fold to one space
_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _murmur3(words: np.ndarray, tail: np.ndarray, length: np.ndarray) -> np.ndarray:
    """MurmurHash3 (x86, 32 bits, seed 0) of many short byte strings at once, as int32: ``words`` (blocks, m)
    their little-endian 4-byte blocks (0 past a string's whole blocks), ``tail`` a string's last ``length % 4``
    bytes as one little-endian integer, ``length`` its length in bytes (at most 4 × blocks + 3)."""
    h = np.zeros(len(length), dtype=np.uint32)
    blocks = length >> 2
    with np.errstate(over="ignore"):
        for b in range(words.shape[0]):
            k = _rotl(words[b] * _C1, 15) * _C2
            mixed = _rotl(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
            h = np.where(blocks > b, mixed, h)
        k = _rotl(tail * _C1, 15) * _C2
        h = np.where((length & 3) > 0, h ^ k, h)
    return fmix32(h ^ length.astype(np.uint32)).view(np.int32)


def _char_hashed(docs: Sequence[str], n_features: int, ngram_range: tuple[int, int]) -> sp.csr_matrix:
    """``HashingVectorizer(analyzer="char", ngram_range=ngram_range, n_features=n_features, alternate_sign=False,
    norm=None, lowercase=False, dtype=np.float32).transform(docs)``, computed with NumPy for the whole batch: every
    n-gram is a run of its document's UTF-8 bytes (from one code point's first byte to another's), so its hash is
    read from the bytes of all the documents together instead of from a Python string per n-gram (the analyser's
    n-gram list and its hashing were most of triage's featurisation). The same matrix: tested against
    scikit-learn."""
    lo, hi = ngram_range
    docs = [_WHITE_SPACES.sub(" ", d) for d in docs]
    data = "".join(docs).encode("utf-8")
    # Zero padding: an n-gram's blocks are read up to 4 n bytes from its start, past the end of the text.
    raw = np.frombuffer(data + bytes(4 * hi + 4), dtype=np.uint8)
    starts = np.flatnonzero((raw[: len(data)] & 0xC0) != 0x80)  # each code point's first byte
    off = np.append(starts, len(data)).astype(np.int64)
    n_cp = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    doc_end = np.cumsum(n_cp)  # per document, one past its last code point
    doc_of = np.repeat(np.arange(len(docs)), n_cp)
    # Every byte position's next four bytes as one little-endian integer: an n-gram's blocks and tail are each one
    # read from it.
    b = raw.astype(np.uint32)
    window = b[:-3] | b[1:-2] << np.uint32(8) | b[2:-1] << np.uint32(16) | b[3:] << np.uint32(24)
    tail_mask = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF], dtype=np.uint32)
    rows, hashes = [], []
    for n in range(lo, hi + 1):
        first = np.flatnonzero(np.arange(len(doc_of)) + n <= doc_end[doc_of])
        if not len(first):
            continue
        at = off[first]
        length = off[first + n] - at
        blocks = length >> 2
        words = np.stack([np.where(blocks > k, window[at + 4 * k], np.uint32(0)) for k in range(n)])
        tail = window[at + 4 * blocks] & tail_mask[length & 3]
        hashes.append(_murmur3(words, tail, length))
        rows.append(doc_of[first])
    h = np.concatenate(hashes).astype(np.int64) if hashes else np.zeros(0, dtype=np.int64)
    # scikit-learn's FeatureHasher: |h| mod n_features, and -2**31 (whose absolute value int32 cannot hold) as if
    # it were 2**31.
    cols = np.where(h == -(2**31), (2**31 - (n_features - 1)) % n_features, np.abs(h) % n_features)
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    out = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (row, cols)), shape=(len(docs), n_features))
    out.sum_duplicates()
    return out


@dataclass(frozen=True)
class Featurizer:
    """Stateless: the same instance (or parameters) gives the same columns in training and serving."""

    char_ngrams: tuple[int, int] = (1, 3)

    def _char(self) -> HashingVectorizer:
        """The scikit-learn vectorizer whose columns the character features are: `_char_hashed` computes the same
        matrix faster (`tests/triage/test_features.py` compares the two)."""
        return HashingVectorizer(analyzer="char", ngram_range=self.char_ngrams, n_features=CHAR_FEATURES,
                                 alternate_sign=False, norm=None, lowercase=False, dtype=np.float32)

    def _word(self) -> HashingVectorizer:
        return HashingVectorizer(analyzer="word", token_pattern=WORD_PATTERN, ngram_range=(1, 2),
                                 n_features=WORD_FEATURES, alternate_sign=False, norm=None, lowercase=False,
                                 dtype=np.float32)

    def transform_prepared(self, prepared: Sequence[str]) -> sp.csr_matrix:
        char = _char_hashed(prepared, CHAR_FEATURES, self.char_ngrams)
        return sp.hstack([char, _hashed(self._word(), prepared)], format="csr")

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
