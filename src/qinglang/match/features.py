"""Features of a (text, debunk) pair for the re-ranker, computed the same way at training and match time.

Only robust, language-neutral signals: dense similarity and its rank/gap within the candidate list,
BM25 score/rank/ratio, idf-weighted term coverage, bigram and character n-gram overlap, shared numbers.
Lexical features are NaN when the text and the debunk are in different scripts (cross-lingual), so the
model falls back on the dense signal instead of reading "no overlap" as "no match".
Never embeds, never touches the store.
"""

from __future__ import annotations

import math
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


def _z(x: float, ref: np.ndarray) -> float:
    if len(ref) < 2:
        return 0.0
    sd = float(ref.std())
    return (x - float(ref.mean())) / sd if sd > 1e-6 else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    r = np.empty(len(values), dtype=np.float32)
    r[order] = np.arange(len(values), dtype=np.float32)
    return r


def overlap(q_toks: Sequence[str], d_toks: Sequence[str], idf: Callable[[str], float]) -> tuple[float, float, float]:
    """(idf-weighted share of doc terms in the text, share of text terms in the doc, bigram share)."""
    qs, ds = set(q_toks), set(d_toks)
    if not qs or not ds:
        return 0.0, 0.0, 0.0
    shared = qs & ds
    w_shared = sum(idf(t) for t in shared)
    cover_doc = w_shared / max(sum(idf(t) for t in ds), 1e-6)
    cover_q = w_shared / max(sum(idf(t) for t in qs), 1e-6)
    qb = set(zip(q_toks, q_toks[1:], strict=False))
    db = set(zip(d_toks, d_toks[1:], strict=False))
    bigram = len(qb & db) / len(db) if db else 0.0
    return cover_doc, cover_q, bigram


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
    d_rank = _ranks(dense_best)
    b_rank = _ranks(np.where(lexical_ok, bm25_best, -1.0))
    top_b = max(float(bm25_best[lexical_ok].max()) if lexical_ok.any() else 0.0, 1e-6)
    for i in range(n):
        dz = _z(float(dense_best[i]), dense_ref)
        row = {
            "dense_best": dense_best[i],
            "dense_title": dense_title[i],
            "dense_rank": math.log1p(d_rank[i]),
            "dense_gap": dense_best[i] - dense_best.max(),
            "dense_z": dz,
            "q_len": math.log1p(q_len),
            "d_len": math.log1p(d_len[i]),
            "best_rank": math.log1p(d_rank[i]),
        }
        if lexical_ok[i]:
            bz = _z(float(bm25_best[i]), bm25_ref)
            row.update(
                bm25_best=bm25_best[i], bm25_title=bm25_title[i], bm25_rank=math.log1p(b_rank[i]),
                bm25_ratio=bm25_best[i] / top_b, bm25_z=bz, fused_z=dz + bz,
                best_rank=math.log1p(min(d_rank[i], b_rank[i])),
            )
            for name, v in zip(("cover_doc", "cover_query", "bigram", "char3", "num_shared", "num_missing"),
                               pair_lex[i], strict=True):
                row[name] = v
        for j, f in enumerate(FEATURES):
            if f in row:
                x[i, j] = row[f]
    return x
