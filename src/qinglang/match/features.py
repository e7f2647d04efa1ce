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

import re
from collections.abc import Sequence

import numpy as np

from qinglang.arrays import segment_ranks
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


def _zscores(values: np.ndarray, seg: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Each value's z-score against its text's reference values (``ref``: a row per text; 0 where the reference
    has fewer than two values or no spread)."""
    r = ref.astype(np.float64)
    mean = r.mean(axis=1)
    sd = np.sqrt(np.maximum((r * r).mean(axis=1) - mean * mean, 0.0))
    ok = (sd > 1e-6) & (r.shape[1] >= 2)
    return np.where(ok[seg], (values - mean[seg]) / np.where(ok, sd, 1.0)[seg], 0.0)


def bigrams(toks: Sequence[str]) -> frozenset[tuple[str, str]]:
    return frozenset(zip(toks, toks[1:], strict=False))


def build_matrix(
    *,
    seg: np.ndarray,
    dense_best: np.ndarray,
    dense_title: np.ndarray,
    dense_ref: np.ndarray,
    bm25_best: np.ndarray,
    bm25_title: np.ndarray,
    bm25_ref: np.ndarray,
    lexical_ok: np.ndarray,
    pair_lex: np.ndarray,
    q_len: np.ndarray,
    d_len: np.ndarray,
    day_gap: np.ndarray,
) -> np.ndarray:
    """Assemble the (n_candidates, len(FEATURES)) matrix from per-candidate raw scores, for the candidates of
    many texts at once: ``seg`` is the text of each candidate (ascending; a text's candidates are contiguous);
    the ranks, gaps and z-scores are within each text. ``dense_ref``/``bm25_ref`` hold a row of reference scores
    per text for the z-scores (its dense and BM25 top lists); ``q_len`` is per text. ``pair_lex`` holds the
    per-candidate ``PAIR`` features (in that order); ``day_gap`` the absolute gap in days between the text's date
    and each debunk's (NaN where either is unknown).
    """
    n = len(dense_best)
    x = np.full((n, len(FEATURES)), np.nan, dtype=np.float32)
    if n == 0:
        return x
    change = np.concatenate(([True], seg[1:] != seg[:-1]))
    first = np.flatnonzero(change)  # where each text's candidates begin
    within = np.cumsum(change) - 1  # each candidate's text as an index into `first`
    d_rank = segment_ranks(dense_best, seg)
    dz = _zscores(dense_best, seg, dense_ref)
    ok = lexical_ok
    any_ok = np.logical_or.reduceat(ok, first)[within]
    b_rank = np.where(any_ok, segment_ranks(np.where(ok, bm25_best, -1.0), seg), d_rank)
    top_d = np.maximum.reduceat(dense_best, first)
    x[:, _DENSE_COLS] = np.column_stack((
        dense_best, dense_title, np.log1p(d_rank), dense_best - top_d[within], dz,
        np.log1p(q_len[seg]), np.log1p(d_len), np.log1p(np.where(ok, np.minimum(d_rank, b_rank), d_rank)),
    ))
    known = np.isfinite(day_gap)
    if known.any():
        x[:, _DATE_COLS[0]] = np.log1p(day_gap)
        x[:, _DATE_COLS[1]] = np.where(known, np.log1p(segment_ranks(np.where(known, -day_gap, -np.inf), seg)),
                                       np.nan)
    if ok.any():
        top_b = np.maximum(np.maximum.reduceat(np.where(ok, bm25_best, -np.inf), first), 1e-6)[within]
        bz = _zscores(bm25_best, seg, bm25_ref)
        lex = np.column_stack((bm25_best, bm25_title, np.log1p(b_rank), bm25_best / top_b, bz, dz + bz, pair_lex))
        x[:, _LEX_COLS] = np.where(ok[:, None], lex, np.nan)
    return x


_DENSE_COLS = np.array([FEATURES.index(f) for f in (
    "dense_best", "dense_title", "dense_rank", "dense_gap", "dense_z", "q_len", "d_len", "best_rank")])
_DATE_COLS = (FEATURES.index("date_gap"), FEATURES.index("date_rank"))
_LEX_COLS = np.array([FEATURES.index(f) for f in (
    "bm25_best", "bm25_title", "bm25_rank", "bm25_ratio", "bm25_z", "fused_z", *PAIR)])
