"""The HNSW index's recall against exact search, and its cost per query, for several search expansions (ef).

Usage: python benchmarks/bench_hnsw.py [--data ../shared/data/claim-matching/ct2022-2a-en] [--size 100000]
                                       [--ef 32,48,64,96,128] [--k 30] [--rounds 3]
The pool's vectors are bench_match.py's synthetic ones (the real CT2022 claims' embeddings, then recombinations
with noise) at --size, indexed as the matcher indexes them (`UsearchIndex`: int8, connectivity 16); the queries
are the real CT2022 tweets, embedded. Ground truth is exact cosine search over the same float32 vectors. For each
ef: recall@1, @10 and @k (the matcher's dense candidates are its top DENSE_K = 30) and the CPU milliseconds per
query of searching batches of 64 on one thread (as a scan worker does), the median of --rounds rounds that
alternate the ef values. The last row is exact (brute-force) search over the index's own int8 vectors: what the
quantisation alone loses. Prints a table; nothing is written into the repo.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_match import DEFAULT_DATA, load_texts, synthetic_pool  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--ef", default="32,48,64,96,128")
    ap.add_argument("--k", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    efs = [int(x) for x in args.ef.split(",") if x.strip()]
    if not efs or min(efs) < 1 or args.k < 1 or args.rounds < 1 or args.size < 1:
        ap.error("--ef values, --k, --rounds and --size must be positive")

    from qinglang.lifecycle import one_math_thread
    from qinglang.match import get_embedder
    from qinglang.match.index import UsearchIndex
    from qinglang.match.matcher import embedding_text

    one_math_thread()
    claims, tweets = load_texts(args.data)
    emb = get_embedder()
    _, vecs = synthetic_pool(claims, emb.embed([embedding_text(c) for c in claims]), args.size)
    queries = emb.embed([embedding_text(t) for t in tweets])
    t = time.perf_counter()
    index = UsearchIndex(vecs.shape[1])
    index.add(np.arange(len(vecs), dtype=np.int64), vecs)
    print(f"{args.size:,} vectors indexed in {time.perf_counter() - t:.1f} s; {len(queries):,} real tweets as "
          f"queries", flush=True)

    k = min(args.k, len(vecs))
    truth = np.empty((len(queries), k), dtype=np.int64)
    for i in range(0, len(queries), 64):
        sims = queries[i : i + 64] @ vecs.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        truth[i : i + 64] = np.take_along_axis(top, order, axis=1)

    def recall(found: np.ndarray, n: int) -> float:
        return float(np.mean([len(set(f[:n].tolist()) & set(g[:n].tolist())) / n
                              for f, g in zip(found, truth, strict=True)]))

    cost: dict[int, list[float]] = {ef: [] for ef in efs}
    found: dict[int, np.ndarray] = {}
    for _ in range(args.rounds):
        for ef in efs:
            index.set_expansion(ef)
            keys = np.empty((len(queries), k), dtype=np.int64)
            c = time.process_time()
            for i in range(0, len(queries), 64):
                keys[i : i + 64] = index.search(queries[i : i + 64], k)[0]
            cost[ef].append(1000 * (time.process_time() - c) / len(queries))
            found[ef] = keys
    c = time.process_time()
    brute = index.search_exact(queries, k)
    brute_ms = 1000 * (time.process_time() - c) / len(queries)

    print(f"| ef | recall@1 | recall@10 | recall@{k} | CPU ms per query (batches of 64, one thread) |")
    print("|---:|---:|---:|---:|---:|")
    for ef in efs:
        print(f"| {ef} | {recall(found[ef], 1):.4f} | {recall(found[ef], min(10, k)):.4f} | "
              f"{recall(found[ef], k):.4f} | {float(np.median(cost[ef])):.3f} |", flush=True)
    print(f"| exact, int8 | {recall(brute, 1):.4f} | {recall(brute, min(10, k)):.4f} | {recall(brute, k):.4f} | "
          f"{brute_ms:.3f} (one round) |")


if __name__ == "__main__":
    main()
