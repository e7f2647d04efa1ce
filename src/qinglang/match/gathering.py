"""A batch's candidate debunks, compiled (numba): per text its dense top rows, then its best lexical rows, then the
debunks of its date window, as the debunks' first rows, each debunk once where it first appears.

Per text this was a dozen small NumPy calls (a top-k with ties, a concatenation, a unique in order of appearance)
and a Python list of pairs; here one loop serves the batch (`compiled.kernel`). The same candidates in the same
order: the lexical top list is the ``k`` best scores above zero, ties to the lower key, as `lexical.LexScores.top`
gives it.
"""

from __future__ import annotations

import numpy as np

from qinglang.compiled import kernel
from qinglang.match.lexsums import best_positions


@kernel
def gather_candidates(dense: np.ndarray, lex_ptr: np.ndarray, lex_keys: np.ndarray, lex_scores: np.ndarray,
                      k: int, first: np.ndarray, win_ptr: np.ndarray,
                      windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For text ``i``: ``dense[i]`` its dense top rows (-1: none), ``lex_keys/lex_scores[lex_ptr[i]:lex_ptr[i + 1]]``
    its lexical scores by row, ``windows[win_ptr[i]:win_ptr[i + 1]]`` its date window's debunks (first rows);
    ``first[row]``: the first row of the row's debunk (-1: none). Returns (candidates, their bounds per text, the
    lexical top rows, their scores, their bounds per text): the candidates as first rows, each once in order of
    appearance, dense rows first; rows at or past ``len(first)`` are not candidates yet."""
    n_text = dense.shape[0]
    n_first = first.shape[0]
    seen = np.zeros(n_first, dtype=np.bool_)
    top_keys = np.empty(n_text * k, dtype=np.int64)
    top_scores = np.empty(n_text * k, dtype=lex_scores.dtype)
    top_ptr = np.zeros(n_text + 1, dtype=np.int64)
    most = dense.shape[1] * n_text + n_text * k + windows.shape[0]
    cands = np.empty(most, dtype=np.int64)
    cand_ptr = np.zeros(n_text + 1, dtype=np.int64)
    n_top = n_cand = 0
    for i in range(n_text):
        lo, hi = lex_ptr[i], lex_ptr[i + 1]
        n_top = best_first(lex_keys[lo:hi], lex_scores[lo:hi], k, top_keys, top_scores, n_top)
        top_ptr[i + 1] = n_top
        start = n_cand
        for j in range(dense.shape[1]):
            n_cand = _add(dense[i, j], first, n_first, seen, cands, n_cand)
        for j in range(top_ptr[i], n_top):
            n_cand = _add(top_keys[j], first, n_first, seen, cands, n_cand)
        for j in range(win_ptr[i], win_ptr[i + 1]):
            owner = windows[j]
            if owner >= 0 and not seen[owner]:
                seen[owner] = True
                cands[n_cand] = owner
                n_cand += 1
        for j in range(start, n_cand):
            seen[cands[j]] = False
        cand_ptr[i + 1] = n_cand
    return cands[:n_cand], cand_ptr, top_keys[:n_top], top_scores[:n_top], top_ptr


@kernel
def _add(row: int, first: np.ndarray, n_first: int, seen: np.ndarray, cands: np.ndarray, n: int) -> int:
    """Append the debunk of ``row`` (as its first row) unless it is absent or already there; the new count."""
    if 0 <= row < n_first:
        owner = first[row]
        if owner >= 0 and not seen[owner]:
            seen[owner] = True
            cands[n] = owner
            return n + 1
    return n


@kernel
def best_first(keys: np.ndarray, scores: np.ndarray, k: int, out_keys: np.ndarray, out_scores: np.ndarray,
               n: int) -> int:
    """Append the ``k`` best (score above zero; best first, ties: the lower key) of ``keys``/``scores`` to the
    outputs from position ``n``; the new count."""
    pos = np.nonzero(scores > 0)[0]
    best = pos[best_positions(keys[pos], scores[pos], k)]
    vals, rows = scores[best], keys[best]  # the scores' own precision: a delta's float64 score is kept
    by_key = np.argsort(rows, kind="mergesort")
    order = by_key[np.argsort(-vals[by_key], kind="mergesort")]  # best first, ties by key (both sorts stable)
    for j in range(order.shape[0]):
        out_keys[n + j] = rows[order[j]]
        out_scores[n + j] = vals[order[j]]
    return n + order.shape[0]
