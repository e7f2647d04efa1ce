"""What matching costs per post beside the model, and what the model loses to a busy neighbour.

Usage: python benchmarks/bench_match_cost.py [--data ../shared/data/claim-matching/ct2022-2a-en] [--pool 10000]
                                            [--saved DIR] [--posts 1000] [--side-rounds 3]
1. Per-post matching cost with the query vectors given (`Matcher.match_many(..., vectors=)` in chunks of 128) on a
   synthetic pool built like bench_match.py's (or the matcher saved in --saved DIR, e.g. bench_hugepages.py's 1M
   pool): "cold" the first time the candidate rows are seen, "warm" again.
2. The embedding model's time on 600 tweets alone, beside a thread doing numpy work on small arrays in the same
   interpreter, and beside another process doing the same (why `scan` embeds ahead in a helper process).
3. What the two cores cost each other (with --side-rounds above 0): the CPU per post of the model (one thread) and
   of matching (vectors given, the texts new to the process each time), each alone and side by side with a forked
   copy of this process running the model or matching, as a two-process scan runs them. Medians of the rounds.
   "Scan ceiling" is what `scan` on two cores could reach against the model alone if it spent nothing but the
   model and matching side by side: 2 x model alone / (model + matching, each beside the other).
Prints tables; nothing is written into the repo.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_match import DEFAULT_DATA, load_texts, synthetic_pool  # noqa: E402


def _numpy_busy(stop: threading.Event | None, seconds: float = 0.0) -> None:
    b = np.random.default_rng(1).random(30).astype(np.float32)
    end = time.perf_counter() + seconds
    while (stop is not None and not stop.is_set()) or (stop is None and time.perf_counter() < end):
        b.std()
        np.argsort(b)


def _beside_a_fork(mine: Callable[[], float], theirs: Callable[[], float]) -> tuple[float, float]:
    """Run ``mine`` here and ``theirs`` at the same time in a forked copy of this process (which shares the loaded
    model and pool, as a scan's forked worker does); each returns its CPU ms per post."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.write(w, repr(theirs()).encode())
        finally:
            os._exit(0)
    os.close(w)
    here = mine()
    with os.fdopen(r) as f:
        there = float(f.read())
    os.waitpid(pid, 0)
    return here, there


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--pool", type=int, default=10_000)
    ap.add_argument("--saved", type=Path, help="a saved matcher directory to load instead of building a pool")
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--side-rounds", type=int, default=3, help="rounds of part 3 (0: skip it)")
    args = ap.parse_args()
    from qinglang.lifecycle import one_math_thread

    one_math_thread()  # as in a scan's processes
    from qinglang.match import Matcher, get_embedder
    from qinglang.match.matcher import embedding_text

    claims, tweets = load_texts(args.data)
    emb = get_embedder()
    if args.saved:
        m = Matcher.load(args.saved, embedder=emb)
    else:
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

    print(f"| measure (pool {len(m):,}, {len(posts):,} tweets) | value |")
    print("|---|---|")
    print(f"| matching per post, vectors given, cold rows | {cold:.2f} ms |")
    print(f"| matching per post, vectors given, warm rows | {warm:.2f} ms |")
    print(f"| embedding per post (one thread, same posts) | {embed_ms:.2f} ms |")
    print(f"| model on 600 tweets alone / beside a numpy thread / beside a numpy process | {alone:.2f} s / "
          f"{beside_thread:.2f} s (+{100 * (beside_thread / alone - 1):.0f} %) / {beside_process:.2f} s "
          f"(+{100 * (beside_process / alone - 1):.0f} %) |")
    if args.side_rounds > 0:
        side_by_side(m, emb, posts, qv, args.side_rounds)


def side_by_side(m: Any, emb: Any, posts: list[str], qv: np.ndarray, rounds: int) -> None:
    """Part 3 of the module's docstring."""
    from qinglang.match.matcher import clear_text_caches, embedding_text

    texts = [embedding_text(p) for p in posts]

    def model() -> float:
        t = time.process_time()
        emb.embed(texts)
        return 1000 * (time.process_time() - t) / len(posts)

    def matching() -> float:
        clear_text_caches()  # new texts to this process, as in a scan
        t = time.process_time()
        for i in range(0, len(posts), 128):
            m.match_many(posts[i : i + 128], top_k=3, vectors=qv[i : i + 128])
        return 1000 * (time.process_time() - t) / len(posts)

    got: dict[str, list[float]] = {k: [] for k in ("e", "m", "e|e", "m|m", "e|m", "m|e")}
    for _ in range(rounds):
        got["e"].append(model())
        got["m"].append(matching())
        got["e|e"].extend(_beside_a_fork(model, model))
        got["m|m"].extend(_beside_a_fork(matching, matching))
        e, mm = _beside_a_fork(model, matching)
        got["e|m"].append(e)
        got["m|e"].append(mm)
    med = {k: float(np.median(v)) for k, v in got.items()}
    print(f"\n| CPU ms per post (medians of {rounds} rounds; side by side with a forked copy) | model | matching |")
    print("|---|---:|---:|")
    print(f"| alone | {med['e']:.2f} | {med['m']:.2f} |")
    print(f"| beside the same work | {med['e|e']:.2f} | {med['m|m']:.2f} |")
    print(f"| beside the other work | {med['e|m']:.2f} | {med['m|e']:.2f} |")
    print(f"\nscan ceiling: 2 x {med['e']:.2f} / ({med['e|m']:.2f} + {med['m|e']:.2f}) = "
          f"{2 * med['e'] / (med['e|m'] + med['m|e']):.2f} of the model alone")


if __name__ == "__main__":
    main()
