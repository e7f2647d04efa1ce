"""Benchmark the re-ranker's two ways to score candidates: LightGBM's predict and the trees compiled by lleaves.

Usage: python benchmarks/bench_reranker.py [--repeat 20]
The rows are real candidate features: the team's Chinese and English posts (tests/data/match_zh) matched against
both pools, as the matcher shortlists them. Both ways score the same rows in one thread; the table gives the
time per 1,000 rows (best of --repeat), the largest difference between their scores, and the compile time
into an empty cache directory and the load time from it. Nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--zh", type=Path, default=ROOT / "tests/data/match_zh")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    from qinglang.lifecycle import one_math_thread

    one_math_thread()
    from qinglang.match import Matcher, reranker
    from qinglang.match.evaluate import load_pool, load_queries

    with tempfile.TemporaryDirectory() as cache:
        os.environ["QINGLANG_CACHE_DIR"] = cache
        t = time.perf_counter()
        scorer = reranker.load_scorer()
        cold = time.perf_counter() - t
        t = time.perf_counter()
        reranker.load_scorer()
        warm = time.perf_counter() - t
    if scorer.compiled is None or scorer.booster is None:
        raise SystemExit("the compiled re-ranker is not available here (lleaves missing or failing)")
    rows = []
    for pool in ("pool_zh.jsonl", "pool_en.jsonl"):
        m = Matcher(load_pool(args.zh / pool), scorer=scorer)
        for queries in ("queries_zh.tsv", "queries_en.tsv"):
            texts = [q for _, q in load_queries(args.zh / queries)]
            rows += [c.x for c in m.candidates_many(texts)]
    x = np.concatenate(rows)
    plain = reranker.Scorer(scorer.booster, scorer.calibration)

    def best(s: reranker.Scorer) -> float:
        times = []
        for _ in range(args.repeat):
            t = time.process_time()
            s.raw(x)
            times.append(time.process_time() - t)
        return min(times) / len(x) * 1e6  # ms per 1,000 rows

    lgb_ms, compiled_ms = best(plain), best(scorer)
    diff = float(np.max(np.abs(plain.raw(x) - scorer.raw(x))))
    print(f"{len(x):,} candidate rows ({x.shape[1]} features), best of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print()
    print("| scoring | ms per 1,000 rows | speed-up | max abs score difference |")
    print("|---|---:|---:|---:|")
    print(f"| LightGBM predict (1 thread) | {lgb_ms:.2f} | 1.0x | |")
    print(f"| compiled trees (lleaves, 1 thread) | {compiled_ms:.2f} | {lgb_ms / compiled_ms:.1f}x | {diff:.1e} |")
    print()
    print(f"scorer load with an empty cache (compiles): {cold:.1f} s; from the cache: {warm:.2f} s")


if __name__ == "__main__":
    main()
