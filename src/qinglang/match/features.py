"""Features of a (text, debunk) pair for the re-ranker, computed the same way at training and match time.

Only robust, language-neutral signals: dense similarity and its rank/gap within the candidate list,
BM25 score/rank/ratio, idf-weighted term coverage, bigram and character n-gram overlap, shared numbers.
Lexical features are NaN when the text and the debunk are in different scripts (cross-lingual), so the
model falls back on the dense signal instead of reading "no overlap" as "no match".
Never embeds, never touches the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from qinglang.text.normalize import normalize

FEATURES = (
    "dense_best", "dense_title", "dense_rank", "dense_gap", "dense_z",
    "bm25_best", "bm25_title", "bm25_rank", "bm25_ratio", "bm25_z",
    "cover_doc", "cover_query", "bigram", "char3", "num_shared", "num_missing",
    "q_len", "d_len", "best_rank", "fused_z",
)
LEXICAL = frozenset(
    {"bm25_best", "bm25_title", "bm25_rank", "bm25_ratio", "bm25_z", "cover_doc", "cover_query", "bigram", "char3",
     "num_shared", "num_missing", "fused_z"}
)
LEXICAL_IDX = np.array([i for i, f in enumerate(FEATURES) if f in LEXICAL])
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_NOSPACE = re.compile(r"[\s\W_]+", re.UNICODE)


def char_ngrams(text: str, n: int = 3) -> set[str]:
    t = _NOSPACE.sub("", normalize(text))
    return {t[i : i + n] for i in range(max(len(t) - n + 1, 0))}


def numbers(text: str) -> set[str]:
    return set(_NUM.findall(normalize(text)))


def _zscores(values: np.ndarray, ref: np.ndarray) -> np.ndarray:
    if len(ref) < 2:
        return np.zeros(len(values), dtype=np.float32)
    sd = float(ref.std())
    return (values - float(ref.mean())) / sd if sd > 1e-6 else np.zeros(len(values), dtype=np.float32)


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    r = np.empty(len(values), dtype=np.float32)
    r[order] = np.arange(len(values), dtype=np.float32)
    return r


def overlap(
    q_set: frozenset[str], q_bigrams: frozenset[tuple[str, str]], q_weight: float,
    d_set: frozenset[str], d_bigrams: frozenset[tuple[str, str]], d_weight: float, idf: Callable[[str], float],
) -> tuple[float, float, float]:
    """(idf-weighted share of doc terms in the text, share of text terms in the doc, bigram share)."""
    if not q_set or not d_set:
        return 0.0, 0.0, 0.0
    w_shared = sum(idf(t) for t in q_set & d_set)
    cover_doc = w_shared / max(d_weight, 1e-6)
    cover_q = w_shared / max(q_weight, 1e-6)
    bigram = len(q_bigrams & d_bigrams) / len(d_bigrams) if d_bigrams else 0.0
    return cover_doc, cover_q, bigram


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
) -> np.ndarray:
    """Assemble the (n_candidates, len(FEATURES)) matrix from per-candidate raw scores.

    ``pair_lex`` holds per-candidate (cover_doc, cover_query, bigram, char3, num_shared, num_missing).
    """
    n = len(dense_best)
    x = np.full((n, len(FEATURES)), np.nan, dtype=np.float32)
    if n == 0:
        return x
    col = {f: j for j, f in enumerate(FEATURES)}
    d_rank = _ranks(dense_best)
    b_rank = _ranks(np.where(lexical_ok, bm25_best, -1.0))
    top_b = max(float(bm25_best[lexical_ok].max()) if lexical_ok.any() else 0.0, 1e-6)
    dz = _zscores(dense_best, dense_ref)
    x[:, col["dense_best"]] = dense_best
    x[:, col["dense_title"]] = dense_title
    x[:, col["dense_rank"]] = np.log1p(d_rank)
    x[:, col["dense_gap"]] = dense_best - dense_best.max()
    x[:, col["dense_z"]] = dz
    x[:, col["q_len"]] = np.log1p(q_len)
    x[:, col["d_len"]] = np.log1p(d_len)
    x[:, col["best_rank"]] = np.log1p(np.where(lexical_ok, np.minimum(d_rank, b_rank), d_rank))
    ok = lexical_ok
    if ok.any():
        bz = _zscores(bm25_best, bm25_ref)
        for name, v in (("bm25_best", bm25_best), ("bm25_title", bm25_title), ("bm25_rank", np.log1p(b_rank)),
                        ("bm25_ratio", bm25_best / top_b), ("bm25_z", bz), ("fused_z", dz + bz)):
            x[ok, col[name]] = v[ok]
        for j, name in enumerate(("cover_doc", "cover_query", "bigram", "char3", "num_shared", "num_missing")):
            x[ok, col[name]] = pair_lex[ok, j]
    return x
