"""Scan a large saved pool with and without huge pages (`QINGLANG_HUGE_PAGES`), in alternated processes.

Usage: python benchmarks/bench_hugepages.py --pool DIR [--size 1000000] [--pairs 3] [--rounds 4] [--posts 1000]
If DIR holds no saved matcher, bench_match's synthetic pool of --size debunks is built and saved there first (about
five minutes and 1.8 GB of disk at 1M; nothing is written into the repo). Then --pairs times, one process with huge
pages off and one with them on (in that order, then the other), each: load the pool (the load time includes putting
it into huge pages), then --rounds rounds of the raw model on the posts (one process, one thread), a scan of them
(`scan_file(..., workers=2)`, as in bench_match) and matching them in this process with their vectors given. The
posts are bench_match's: the real CT2022 tweets after its 200 latency queries. The table gives, per setting, the
median over all its rounds (and the range of the scan ratios): scan÷raw, the scan's CPU (this process and its
forked worker) and minor page faults per post, matching CPU per post, and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_match import DEFAULT_DATA, _usage, load_texts, synthetic_pool, write_posts  # noqa: E402


def build(pool: Path, size: int, data: Path) -> None:
    from qinglang.match import Matcher, get_embedder
    from qinglang.match.matcher import embedding_text

    claims, _ = load_texts(data)
    emb = get_embedder()
    t = time.perf_counter()
    docs, vecs = synthetic_pool(claims, emb.embed([embedding_text(c) for c in claims]), size)
    m = Matcher(embedder=emb)
    m.upsert(docs, vectors=vecs)
    m.save(pool)
    print(f"built and saved {size:,} debunks in {time.perf_counter() - t:.0f} s", flush=True)


def _huge_mib() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one(pool: Path, rounds: int, n_posts: int, data: Path) -> dict[str, object]:
    from qinglang.lifecycle import one_math_thread

    one_math_thread()
    from qinglang.match import Matcher, get_embedder
    from qinglang.match.matcher import clear_text_caches, embedding_text
    from qinglang.match.scan import scan_file

    _, tweets = load_texts(data)
    posts = tweets[200 : 200 + n_posts]
    emb = get_embedder()
    t = time.perf_counter()
    m = Matcher.load(pool, embedder=emb)
    load_s = time.perf_counter() - t
    m.warm()
    out: dict[str, object] = {"load_s": load_s, "huge_mib": _huge_mib(), "rounds": []}
    with tempfile.TemporaryDirectory() as tmp:
        pf = Path(tmp) / "posts.jsonl"
        write_posts(pf, posts)
        for k in range(rounds):
            t = time.perf_counter()
            vecs = emb.embed([embedding_text(p) for p in posts])
            raw = len(posts) / (time.perf_counter() - t)
            clear_text_caches()
            f0, u0, s0 = _usage()
            t = time.perf_counter()
            scan_file(m, pf, Path(tmp) / f"out{k}.jsonl", workers=2)
            scan = len(posts) / (time.perf_counter() - t)
            f1, u1, s1 = _usage()
            clear_text_caches()
            for i in range(0, len(posts), 128):
                m.match_many(posts[i : i + 128], top_k=3, vectors=vecs[i : i + 128])
            _, u2, _ = _usage()
            out["rounds"].append({  # type: ignore[attr-defined]
                "ratio": scan / raw, "user_ms": 1000 * (u1 - u0) / len(posts), "sys_ms": 1000 * (s1 - s0) / len(posts),
                "faults": (f1 - f0) / len(posts), "match_ms": 1000 * (u2 - u1) / len(posts)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=Path, required=True, help="directory of a saved matcher (built there if empty)")
    ap.add_argument("--size", type=int, default=1_000_000, help="debunks of the synthetic pool, if it is built")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.pool, args.rounds, args.posts, args.data)), flush=True)
        return
    if not (args.pool / "meta.json").is_file():
        build(args.pool, args.size, args.data)
    runs: dict[str, list[dict[str, object]]] = {"false": [], "true": []}
    for i in range(args.pairs):
        for setting in (("false", "true") if i % 2 == 0 else ("true", "false")):
            cmd = [sys.executable, __file__, "--one", "--pool", str(args.pool), "--rounds", str(args.rounds),
                   "--posts", str(args.posts), "--data", str(args.data)]
            env = dict(os.environ, QINGLANG_HUGE_PAGES=setting)
            res = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                             .stdout.strip().splitlines()[-1])
            ratios = " ".join(f"{r['ratio']:.2f}" for r in res["rounds"])
            print(f"pair {i + 1}, huge pages {setting}: load {res['load_s']:.1f} s, huge {res['huge_mib']:,.0f} MiB, "
                  f"scan÷raw {ratios}", flush=True)
            runs[setting].append(res)
    print(f"\n{args.pool}, {args.posts} posts, {args.pairs} processes per setting x {args.rounds} rounds; "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("| huge pages | scan÷raw, median (range) | scan CPU ms/post user / sys | faults/post "
          "| match-only CPU ms/post | load s | in huge pages MiB |")
    print("|---|---|---|---|---|---|---|")
    for setting, res in runs.items():
        rs = [r for x in res for r in x["rounds"]]  # type: ignore[attr-defined]

        def med(key: str, rs: list[dict[str, float]] = rs) -> float:
            return float(np.median([r[key] for r in rs]))

        ratios = [r["ratio"] for r in rs]
        print(f"| {setting} | **{med('ratio'):.2f}** ({min(ratios):.2f}-{max(ratios):.2f}) | {med('user_ms'):.2f} / "
              f"{med('sys_ms'):.2f} | {med('faults'):.0f} | {med('match_ms'):.2f} | "
              f"{np.median([x['load_s'] for x in res]):.1f} | {np.median([x['huge_mib'] for x in res]):,.0f} |")


if __name__ == "__main__":
    main()
