"""How a published debunk reaches the claim index of every process: catching up debunk by debunk against loading
the saved index again (what every other process did before session 21).

Usage: python benchmarks/bench_index_sync.py [--debunks 20000] [--changes 5] [--delta 1000] [--queries 200]
                                             [--data ../shared/data/claim-matching/ct2022-2a-en]
A fresh SQLite store (temporary) gets --debunks published debunks: bench_match's synthetic claims (the real CT2022
claims, then recombinations), created through the registry. One holder (the worker's side) builds the index from the
store and saves it; a second holder (another server process) loads it. Then --changes times: one more debunk is
published and its `index_debunk` job applied by the worker's holder (the checkpoint bump, the marks and its own
catch-up; the save is left to a later job when the last one is under `SAVE_EVERY` old), and the other process's next
`get()` catches up. Printed per change: the worker's apply, the other process's catch-up, and, for comparison, a
full load of the saved index (the old way) and a save.

Then what caught-up rows cost queries until the matcher is compacted (`store_source.DELTA_COMPACT`): --queries
tweets matched (their vectors given, so the model is left out) against the loaded index, again once --delta more
debunks sit in its delta (upserted as a process catching up does), and again after `compact()`. Nothing is written
into the repo.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_match import DEFAULT_DATA, load_texts, synthetic_pool  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--debunks", type=int, default=20_000)
    ap.add_argument("--changes", type=int, default=5)
    ap.add_argument("--delta", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    if args.debunks < 1 or args.changes < 1 or args.delta < 1 or args.queries < 1:
        ap.error("--debunks, --changes, --delta and --queries must be positive")

    import numpy as np
    from sqlalchemy import delete, select

    from qinglang import accounts
    from qinglang.auth.policy import Principal
    from qinglang.debunks import registry
    from qinglang.match import Matcher, store_source
    from qinglang.match.store_source import ClaimIndexHolder
    from qinglang.store.db import Database
    from qinglang.store.migrate import upgrade
    from qinglang.store.models import Job

    claims, tweets = load_texts(args.data)
    docs, _ = synthetic_pool(claims, np.zeros((len(claims), 1), dtype=np.float32),
                             args.debunks + args.changes + args.delta)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'q.db'}"
        upgrade(url)
        db = Database(url)
        index_dir = Path(tmp) / "index"
        with db.write() as s:
            accounts.create_org(s, actor="bench", key="fc", kind="fact_checker", name_zh="核查", name_en="FC")
            accounts.create_user(s, actor="bench", username="exp", role="expert", org="fc", password=None)
        def publish(s: Any, claim: str) -> int:
            exp = Principal.of(accounts.user_by_name(s, "exp"), via="cli")
            data = registry.DebunkInput(claim=claim, verdict="false", summary="not true", explanation="", lang="en")
            return registry.create(s, exp, data, org_id=accounts.org_by_key(s, "fc").id, status="published").id

        t = time.perf_counter()
        for k in range(0, args.debunks, 1000):
            with db.write() as s:
                for d in docs[k : min(k + 1000, args.debunks)]:
                    publish(s, d.claim)
                s.execute(delete(Job))  # the initial build below indexes them all
        print(f"{args.debunks:,} debunks created in {time.perf_counter() - t:.0f} s", flush=True)
        worker = ClaimIndexHolder(db, index_dir)
        t = time.perf_counter()
        worker.get()  # no saved index: built from the store and saved
        print(f"index built and saved in {time.perf_counter() - t:.0f} s", flush=True)
        other = ClaimIndexHolder(db, index_dir)
        t = time.perf_counter()
        other.get()
        print(f"another process loads it in {time.perf_counter() - t:.1f} s", flush=True)
        store_source.CHECK_EVERY = 0.0
        apply_ms, catch_ms, load_s, save_s = [], [], [], []
        for i in range(args.changes):
            with db.write() as s:
                new_id = publish(s, docs[args.debunks + i].claim)
                s.execute(delete(Job).where(Job.kind == "index_debunk"))
            t = time.perf_counter()
            worker.apply([new_id])
            apply_ms.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            m = other.get()
            catch_ms.append(1000 * (time.perf_counter() - t))
            assert str(new_id) in m, "the other process did not see the new debunk"
            t = time.perf_counter()
            worker.save_if_behind()
            save_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            loaded = Matcher.load(index_dir / "current")
            load_s.append(time.perf_counter() - t)
        with db.read() as s:
            queued = s.execute(select(Job.kind).where(Job.kind == store_source.SAVE_JOB)).scalars().all()
        db.dispose()
        delta_ms = query_cost(loaded, tweets[: args.queries], docs[args.debunks + args.changes :])

    med = statistics.median
    print("\n| debunks | worker: apply one change, ms | another process: catch up, ms | the old way: load the saved "
          "index, s | save the index, s |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {args.debunks:,} | {med(apply_ms):.0f} (max {max(apply_ms):.0f}) | {med(catch_ms):.0f} "
          f"(max {max(catch_ms):.0f}) | {med(load_s):.1f} | {med(save_s):.1f} |")
    print(f"medians of {args.changes} changes; save jobs queued by the applies: {len(queued)}")
    print(f"\n| debunks | queries | matching ms per query: compacted | with {args.delta:,} rows in the delta | "
          "compacted again |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {args.debunks + args.changes:,} | {args.queries} | " + " | ".join(f"{x:.2f}" for x in delta_ms) + " |")
    print("each the best of three passes, the queries' vectors given (matching alone)")


def query_cost(m: Any, queries: list[str], more: list[Any]) -> list[float]:
    """Matching ms per query (best of three passes, vectors given) on ``m`` as it is, with ``more`` upserted into
    its delta, and compacted."""
    vecs = m.embed(queries)

    def timed() -> float:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for i in range(0, len(queries), 128):
                m.match_many(queries[i : i + 128], top_k=3, vectors=vecs[i : i + 128])
            best = min(best, time.perf_counter() - t)
        return 1000 * best / len(queries)

    out = [timed()]
    m.upsert(more)
    assert m.delta_rows >= len(more)
    out.append(timed())
    m.compact()
    out.append(timed())
    return out


if __name__ == "__main__":
    main()
