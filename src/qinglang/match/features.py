"""Features of a (text, debunk) pair for the re-ranker, computed the same way at training and match time.

Only robust, language-neutral signals: dense similarity and its rank/gap within the candidate list,
BM25 score/rank/ratio, idf-weighted term coverage and cosine, bigram and character n-gram overlap (both
directions), shared numbers, and the text's overlap with the debunk's title and with all its rows together.
Lexical features are NaN when the text and the debunk are in different scripts (cross-lingual), so the
model falls back on the dense signal instead of reading "no overlap" as "no match". The date features (the
gap in days between the post and the debunk's publication, and its rank among the candidates) are NaN when
either date is unknown.
Never embeds, never touches the store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from qinglang.text.normalize import normalize

FEATURES = (
    "dense_best", "dense_title", "dense_rank", "dense_gap", "dense_z",
    "bm25_best", "bm25_title", "bm25_rank", "bm25_ratio", "bm25_z",
    "cover_doc", "cover_query", "bigram", "char3", "num_shared", "num_missing",
    "q_len", "d_len", "best_rank", "fused_z",
    "tfidf_cos", "char3_q", "cover_query_all", "title_cover_q", "title_bigram", "date_gap", "date_rank",
)
LEXICAL = frozenset(
    {"bm25_best", "bm25_title", "bm25_rank", "bm25_ratio", "bm25_z", "cover_doc", "cover_query", "bigram", "char3",
     "num_shared", "num_missing", "fused_z", "tfidf_cos", "char3_q", "cover_query_all", "title_cover_q",
     "title_bigram"}
)
LEXICAL_IDX = np.array([i for i, f in enumerate(FEATURES) if f in LEXICAL])
PAIR = ("cover_doc", "cover_query", "bigram", "char3", "num_shared", "num_missing",
        "tfidf_cos", "char3_q", "cover_query_all", "title_cover_q", "title_bigram")
PAIR_IDX = np.array([FEATURES.index(f) for f in PAIR])
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_NOSPACE = re.compile(r"[\s\W_]+", re.UNICODE)


def char_ngrams(text: str, n: int = 3, *, normalized: bool = False) -> set[str]:
    """Character n-grams of the text without spaces and punctuation (``normalized``: already normalised)."""
    t = _NOSPACE.sub("", text if normalized else normalize(text))
    return {t[i : i + n] for i in range(max(len(t) - n + 1, 0))}


def numbers(text: str, *, normalized: bool = False) -> set[str]:
    return set(_NUM.findall(text if normalized else normalize(text)))


def _zscores(values: np.ndarray, ref: np.ndarray) -> np.ndarray:
    n = len(ref)
    if n < 2:
        return np.zeros(len(values), dtype=np.float32)
    r = ref.astype(np.float64)
    mean = float(r.sum()) / n
    sd = math.sqrt(max(float(r @ r) / n - mean * mean, 0.0))  # np.std costs more than the rest of a query
    return (values - mean) / sd if sd > 1e-6 else np.zeros(len(values), dtype=np.float32)


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    r = np.empty(len(values), dtype=np.float32)
    r[order] = np.arange(len(values), dtype=np.float32)
    return r


def bigrams(toks: Sequence[str]) -> frozenset[tuple[str, str]]:
    return frozenset(zip(toks, toks[1:], strict=False))


def build_matrix(
    *,
    dense_best: np.ndarray,
    dense_title: np.ndarray,
    dense_ref: np.ndarray,
    bm25_best: np.ndarray,
    bm25_title: np.ndarray,
    bm25_ref: np.ndarray,
    lexical_ok: np.ndarray,
    pair_lex: np.ndarray,
    q_len: int,
    d_len: np.ndarray,
    day_gap: np.ndarray | None = None,
) -> np.ndarray:
    """Assemble the (n_candidates, len(FEATURES)) matrix from per-candidate raw scores.

    ``pair_lex`` holds the per-candidate ``PAIR`` features (in that order); ``day_gap`` the absolute gap in days
    between the text's date and each debunk's (NaN where unknown; None: the text has no date).
    """
    n = len(dense_best)
    x = np.full((n, len(FEATURES)), np.nan, dtype=np.float32)
    if n == 0:
        return x
    d_rank = _ranks(dense_best)
    dz = _zscores(dense_best, dense_ref)
    ok = lexical_ok
    any_ok = bool(ok.any())
    b_rank = _ranks(np.where(ok, bm25_best, -1.0)) if any_ok else d_rank
    x[:, _DENSE_COLS] = np.column_stack((
        dense_best, dense_title, np.log1p(d_rank), dense_best - dense_best.max(), dz,
        np.full(n, np.log1p(q_len)), np.log1p(d_len), np.log1p(np.where(ok, np.minimum(d_rank, b_rank), d_rank)),
    ))
    if day_gap is not None and np.isfinite(day_gap).any():
        known = np.isfinite(day_gap)
        x[:, _DATE_COLS[0]] = np.log1p(day_gap)
        x[:, _DATE_COLS[1]] = np.where(known, np.log1p(_ranks(np.where(known, -day_gap, -np.inf))), np.nan)
    if any_ok:
        top_b = max(float(bm25_best[ok].max()), 1e-6)
        bz = _zscores(bm25_best, bm25_ref)
        lex = np.column_stack((bm25_best, bm25_title, np.log1p(b_rank), bm25_best / top_b, bz, dz + bz, pair_lex))
        x[:, _LEX_COLS] = np.where(ok[:, None], lex, np.nan)
    return x


_DENSE_COLS = np.array([FEATURES.index(f) for f in (
    "dense_best", "dense_title", "dense_rank", "dense_gap", "dense_z", "q_len", "d_len", "best_rank")])
_DATE_COLS = (FEATURES.index("date_gap"), FEATURES.index("date_rank"))
_LEX_COLS = np.array([FEATURES.index(f) for f in (
    "bm25_best", "bm25_title", "bm25_rank", "bm25_ratio", "bm25_z", "fused_z", *PAIR)])
