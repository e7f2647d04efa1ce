"""Compile the numba kernels ahead (`python -m qinglang.warmup`; `make` runs it after installing).

Compiling them all takes tens of seconds on two cores, once per installation: the machine code is cached on disk
(`compiled.kernel`). Without this the first report, match or scan after an install paid it, in every process that
got there before the cache was written. Each kernel is reached through the code that calls it in service, so it
is compiled for the argument types it is called with there.
"""

from __future__ import annotations

import time

import numpy as np


def warm() -> float:
    """Call every compiled kernel once through its real caller; the seconds it took."""
    from qinglang.cases.dedup import DedupIndex
    from qinglang.match import lexical
    from qinglang.match.index import UsearchIndex
    from qinglang.match.matcher import Matcher
    from qinglang.match.types import ClaimDoc

    started = time.perf_counter()
    for small in (False, True):  # the whole index and a transaction's own texts
        index = DedupIndex(small=small)
        index.add_text("warm-up text about a parcel held at customs, pay the fee", 1)
        index.text_case("warm-up text about a parcel held at customs, pay the fees")
    docs = [[f"t{i % 7}", f"t{i % 5}", "common"] for i in range(64)]
    lex = lexical.LexicalIndex(list(range(len(docs))), docs)
    lex.set_head(8)  # cut the common terms: the heads path
    head_min, lexical.HEAD_MIN_POSTINGS = lexical.HEAD_MIN_POSTINGS, 0
    try:
        lex.scores_many([["common", "t1"], ["t2", "common"]])[0].lookup([1, 2, 3])
    finally:
        lexical.HEAD_MIN_POSTINGS = head_min
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3, 512)).astype(np.float32)
    matcher = Matcher()
    matcher.upsert([ClaimDoc(f"w{i}", text) for i, text in enumerate(
        ("Drinking hot water cures the virus", "喝热水可以治愈病毒", "The bridge in the east district has collapsed"))],
        vectors=vecs)
    matcher.match_many(["hot water cures the virus", "喝热水治病毒"], vectors=vecs[:2], explain=False)
    graph = UsearchIndex(vecs.shape[1])  # the large pools' index: the similarities of candidate rows
    graph.add(np.arange(3), vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    graph.similarities(vecs[:2], np.array([0, 1, 2]), np.array([0, 1, 1]))
    return time.perf_counter() - started


def main() -> None:
    print(f"compiled kernels ready in {warm():.1f} s")


if __name__ == "__main__":
    main()
