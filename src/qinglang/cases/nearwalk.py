"""The near-duplicate walk of `dedup.DedupIndex.text_case`, compiled (numba): the candidate cases' members, oldest
case first, each pre-checked by its one-byte minwise sketch and then decided by the exact Jaccard of the shingle
codes, until the first member that qualifies.

As NumPy steps over blocks of members (a few dozen NumPy calls per lookup and member ids listed in Python) the walk
was the largest part of the worker's time on bench_intake's templated stream; compiled, the same walk over the same
members is a loop (`compiled.kernel`; `benchmarks/bench_dedup.py --reports 6000`: lookup and insert 0.073 ms per
report, 0.156-0.166 ms in session 13, the same joins).
"""

from __future__ import annotations

import numpy as np

from qinglang.compiled import kernel


@kernel
def first_similar(heads: np.ndarray, nxt: np.ndarray, sketches: np.ndarray, sketch: np.ndarray, need: float,
                  starts: np.ndarray, arena: np.ndarray, codes: np.ndarray, threshold: float) -> int:
    """The first slot, walking each of ``heads`` (a case's oldest member slot) along ``nxt`` (the case's next
    member, -1 after its newest), whose sketch row agrees with ``sketch`` on at least ``need`` positions and whose
    codes (``arena[starts[slot]:starts[slot + 1]]``, sorted and unique) have Jaccard similarity at least
    ``threshold`` with ``codes`` (sorted and unique); -1 if none does."""
    width = sketch.shape[0]
    n_q = codes.shape[0]
    for h in range(heads.shape[0]):
        slot = heads[h]
        while slot >= 0:
            row = sketches[slot]
            agree = 0
            for k in range(width):
                if row[k] == sketch[k]:
                    agree += 1
            if agree >= need:
                i, j, shared = starts[slot], 0, 0
                end = starts[slot + 1]
                while i < end and j < n_q:
                    a, b = arena[i], codes[j]
                    if a == b:
                        shared += 1
                        i += 1
                        j += 1
                    elif a < b:
                        i += 1
                    else:
                        j += 1
                union = (end - starts[slot]) + n_q - shared
                if shared / max(union, 1) >= threshold:
                    return slot
            slot = nxt[slot]
    return -1
