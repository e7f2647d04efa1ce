"""BM25 sums of the lexical index's large-pool path (`lexical._Main`), compiled (numba): the sums of each query's
postings through the terms' heads, its RESCORE best rows by them, and those rows scored exactly from the row-major
copy of the score matrix.

The same arithmetic as the SciPy and NumPy steps they replace, in the same order, so the same rows and scores:
the heads' sums in float32, a query's terms ascending and a repeated term's postings multiplied by its count (as
SciPy's sparse product sums them); ties at the RESCORE-th sum go to the lower rows; the exact scores summed in
float64 over each row's postings in order, each a float32 product (as ``np.bincount`` of them sums). At 1M rows the
sparse product was the largest part of lexical scoring, most of it bookkeeping around the additions
(`compiled.kernel`).
"""

from __future__ import annotations

import numpy as np

from qinglang.compiled import kernel


@kernel
def heads_rescored(q_ptr: np.ndarray, q_terms: np.ndarray, q_counts: np.ndarray, h_indptr: np.ndarray,
                   h_indices: np.ndarray, h_data: np.ndarray, r_indptr: np.ndarray, r_indices: np.ndarray,
                   r_data: np.ndarray, rescore: int, acc: np.ndarray,
                   weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query ``j`` (its distinct term ids ascending ``q_terms[q_ptr[j]:q_ptr[j + 1]]``, with their counts
    ``q_counts``): the positions (ascending) of its ``rescore`` rows with the highest sums over the head postings
    (``h_*``, a term-major CSR matrix), and their exact scores (``r_*``, the row-major copy of the full matrix).
    ``acc`` (float32, one per row) and ``weight`` (float32, one per term) are zeros, and are zeros again after.
    Returns (positions, scores, bounds): query ``j``'s are ``[bounds[j]:bounds[j + 1]]``."""
    n_q = q_ptr.shape[0] - 1
    most = 0
    for j in range(n_q):
        size = 0
        for a in range(q_ptr[j], q_ptr[j + 1]):
            t = q_terms[a]
            size += h_indptr[t + 1] - h_indptr[t]
        most = max(most, size)
    rows = np.empty(most, dtype=np.int64)
    sums = np.empty(most, dtype=np.float32)
    pos = np.empty(n_q * rescore, dtype=np.int64)
    scores = np.empty(n_q * rescore, dtype=np.float32)
    bounds = np.zeros(n_q + 1, dtype=np.int64)
    out = 0
    for j in range(n_q):
        for a in range(q_ptr[j], q_ptr[j + 1]):
            c = q_counts[a]
            for k in range(h_indptr[q_terms[a]], h_indptr[q_terms[a] + 1]):
                acc[h_indices[k]] += c * h_data[k]
        # The touched rows, each once (every posting's score is positive, so a touched row's sum is not zero), read
        # and cleared in a second walk: the branch is nearly always taken, where telling first touches apart
        # while adding mispredicted at random.
        n = 0
        for a in range(q_ptr[j], q_ptr[j + 1]):
            for k in range(h_indptr[q_terms[a]], h_indptr[q_terms[a] + 1]):
                r = h_indices[k]
                if acc[r] != 0.0:
                    rows[n] = r
                    sums[n] = acc[r]
                    acc[r] = 0.0
                    n += 1
        chosen = np.sort(rows[:n][best_positions(rows[:n], sums[:n], rescore)])
        _exact(q_terms[q_ptr[j] : q_ptr[j + 1]], q_counts[q_ptr[j] : q_ptr[j + 1]], chosen, r_indptr, r_indices,
               r_data, weight, scores[out : out + chosen.shape[0]])
        pos[out : out + chosen.shape[0]] = chosen
        out += chosen.shape[0]
        bounds[j + 1] = out
    return pos[:out], scores[:out], bounds


@kernel
def exact_scores(q_ptr: np.ndarray, q_terms: np.ndarray, q_counts: np.ndarray, rows_ptr: np.ndarray,
                 rows: np.ndarray, r_indptr: np.ndarray, r_indices: np.ndarray, r_data: np.ndarray,
                 weight: np.ndarray) -> np.ndarray:
    """The exact scores of the rows ``rows[rows_ptr[j]:rows_ptr[j + 1]]`` for query ``j`` (terms and counts as in
    `heads_rescored`), from the row-major matrix ``r_*``; ``weight`` as there."""
    out = np.empty(rows.shape[0], dtype=np.float32)
    for j in range(q_ptr.shape[0] - 1):
        lo, hi = rows_ptr[j], rows_ptr[j + 1]
        _exact(q_terms[q_ptr[j] : q_ptr[j + 1]], q_counts[q_ptr[j] : q_ptr[j + 1]], rows[lo:hi], r_indptr, r_indices,
               r_data, weight, out[lo:hi])
    return out


@kernel
def _exact(terms: np.ndarray, counts: np.ndarray, rows: np.ndarray, r_indptr: np.ndarray, r_indices: np.ndarray,
           r_data: np.ndarray, weight: np.ndarray, out: np.ndarray) -> None:
    """``out[i]``: row ``rows[i]``'s score for the query ``terms`` (each counted ``counts`` times): its postings'
    float32 products with the term counts, summed in float64 in the row's order."""
    for a in range(terms.shape[0]):
        weight[terms[a]] = counts[a]
    for i in range(rows.shape[0]):
        row = rows[i]
        s = 0.0
        for k in range(r_indptr[row], r_indptr[row + 1]):
            w = weight[r_indices[k]]
            if w != 0.0:
                s += np.float32(r_data[k] * w)
        out[i] = np.float32(s)
    for a in range(terms.shape[0]):
        weight[terms[a]] = 0.0


@kernel
def best_positions(keys: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The positions of the ``k`` best ``scores`` (all of them if there are at most ``k``), in no order; among
    scores tied at the ``k``-th best, those of the lower ``keys`` (distinct). The positions above the ``k``-th and
    at it are written unconditionally and counted by the comparison: no branch to mispredict on the many equal
    sums BM25 gives."""
    n = scores.shape[0]
    if n <= k:
        return np.arange(n)
    kth = kth_largest(scores, k)
    out = np.empty(n, dtype=np.int64)
    ties = np.empty(n, dtype=np.int64)
    m = n_ties = 0
    for i in range(n):
        out[m] = i
        m += scores[i] > kth
        ties[n_ties] = i
        n_ties += scores[i] == kth
    need = k - m
    lowest = np.partition(keys[ties[:n_ties]], need - 1)[need - 1]  # the need-th lowest key among the ties
    for i in range(n_ties):
        if keys[ties[i]] <= lowest:
            out[m] = ties[i]
            m += 1
    return out[:k]


@kernel
def kth_largest(values: np.ndarray, k: int) -> float:
    """The ``k``-th largest of ``values`` (counting equal values apart; ``k`` at most their number), through a
    min-heap of the ``k`` largest so far: most values fall below its root and cost one comparison (a partition as
    numba compiles it was slower on the many equal sums BM25 gives)."""
    heap = values[:k].copy()
    for i in range(k // 2 - 1, -1, -1):
        _sift_down(heap, i)
    for i in range(k, values.shape[0]):
        if values[i] > heap[0]:
            heap[0] = values[i]
            _sift_down(heap, 0)
    return heap[0]


@kernel
def _sift_down(heap: np.ndarray, i: int) -> None:
    n = heap.shape[0]
    v = heap[i]
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= v:
            break
        heap[i] = heap[child]
        i = child
    heap[i] = v
