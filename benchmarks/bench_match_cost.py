"""What matching costs per post beside the model, and what the model loses to a busy neighbour.

Usage: python benchmarks/bench_match_cost.py [--data ../shared/data/claim-matching/ct2022-2a-en] [--pool 10000]
                                            [--posts 1000]
1. Per-post matching cost with the query vectors given (`Matcher.match_many(..., vectors=)` in chunks of 128) on a
   synthetic pool built like bench_match.py's: "cold" the first time the candidate rows are seen, "warm" again.
2. The embedding model's time on 600 tweets alone, beside a thread doing numpy work on small arrays in the same
   interpreter, and beside another process doing the same (why `scan` embeds ahead in a helper process).
Prints a table; nothing is written into the repo.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_match import DEFAULT_DATA, load_texts, synthetic_pool  # noqa: E402


def _numpy_busy(stop: threading.Event | None, seconds: float = 0.0) -> None:
    b = np.random.default_rng(1).random(30).astype(np.float32)
    end = time.perf_counter() + seconds
    while (stop is not None and not stop.is_set()) or (stop is None and time.perf_counter() < end):
        b.std()
        np.argsort(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--pool", type=int, default=10_000)
    ap.add_argument("--posts", type=int, default=1000)
    args = ap.parse_args()
    from qinglang.match import Matcher, get_embedder
    from qinglang.match.matcher import embedding_text

    claims, tweets = load_texts(args.data)
    emb = get_embedder()
    vecs = emb.embed([embedding_text(c) for c in claims])
    docs, dv = synthetic_pool(claims, vecs, args.pool)
    m = Matcher(embedder=emb)
    m.upsert(docs, vectors=dv)
    posts = tweets[200 : 200 + args.posts]
    m.match_many(tweets[:5])
    qv = emb.embed([embedding_text(p) for p in posts])

    def run() -> float:
        t = time.perf_counter()
        for i in range(0, len(posts), 128):
            m.match_many(posts[i : i + 128], top_k=3, vectors=qv[i : i + 128])
        return 1000 * (time.perf_counter() - t) / len(posts)

    cold, warm = run(), run()
    t = time.perf_counter()
    emb.embed([embedding_text(p) for p in posts])
    embed_ms = 1000 * (time.perf_counter() - t) / len(posts)

    sample = [embedding_text(p) for p in tweets[:600]]
    t = time.perf_counter()
    emb.embed(sample)
    alone = time.perf_counter() - t
    stop = threading.Event()
    th = threading.Thread(target=_numpy_busy, args=(stop,))
    th.start()
    t = time.perf_counter()
    emb.embed(sample)
    beside_thread = time.perf_counter() - t
    stop.set()
    th.join()
    proc = mp.get_context("spawn").Process(target=_numpy_busy, args=(None, alone * 3 + 5))
    proc.start()
    time.sleep(1.0)
    t = time.perf_counter()
    emb.embed(sample)
    beside_process = time.perf_counter() - t
    proc.terminate()
    proc.join()

    print(f"| measure (pool {args.pool:,}, {len(posts):,} tweets) | value |")
    print("|---|---|")
    print(f"| matching per post, vectors given, cold rows | {cold:.2f} ms |")
    print(f"| matching per post, vectors given, warm rows | {warm:.2f} ms |")
    print(f"| embedding per post (one thread, same posts) | {embed_ms:.2f} ms |")
    print(f"| model on 600 tweets alone / beside a numpy thread / beside a numpy process | {alone:.2f} s / "
          f"{beside_thread:.2f} s (+{100 * (beside_thread / alone - 1):.0f} %) / {beside_process:.2f} s "
          f"(+{100 * (beside_process / alone - 1):.0f} %) |")


if __name__ == "__main__":
    main()
