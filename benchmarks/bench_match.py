"""Benchmark the claim matcher: latency, bulk scan throughput, build time and memory at several pool sizes.

Usage: python benchmarks/bench_match.py [--data ../shared/data/claim-matching/ct2022-2a-en]
                                        [--sizes 10000,100000,1000000] [--queries 200] [--posts 1000] [--rounds 3]
Synthetic pools are generated from the real CT2022 claims: beyond the 14,231 originals each claim is a
recombination of a real claim with words from another, and its vector is the real claim's embedding
mixed with the other's plus noise (so the 1M case needs no 1M-text embedding run). Queries and posts
are the real CT2022 tweets. Each size runs in its own process so resident memory is that size's alone.
"scan CPU" and "faults" are the scan's user and system CPU time and minor page faults per post, in this process
(which matches too) and its worker (forked from it, so most of its faults are copy-on-write). The last two
columns: CT2022 Dev-Test (undated) against the pool, lexical candidates through the terms' heads (the default,
`lexical.HEAD_POSTINGS`) and through every posting.
"scan" is `scan_file(..., workers=2)`, what `qinglang scan` does by default, against the raw model in one
process (one thread, its fastest setting) on the same posts; the 1-process scan is shown beside it, and the
raw model in two processes at the first size. The scans and the raw model are measured in --rounds alternated
rounds, each ratio against its own round's raw model; the table gives the median round (and the ratios' range):
this shared machine's speed drifts by 10-20 % within minutes. A first round before them, the process's first scan
with what it loads once, is given apart ("first scan÷raw"). The first table's scans run in the process that built
the pool; the second table repeats them in a fresh process that loads the pool saved by the first, which is how
`qinglang scan` meets a registry (the store's persisted index).
Prints a table; nothing is written into the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared/data/claim-matching/ct2022-2a-en"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_texts(data: Path) -> tuple[list[str], list[str]]:
    from qinglang.match.evaluate import load_pool, load_queries

    claims = [d.claim for d in load_pool(data / "vclaims_official.jsonl")]
    tweets = [t for _, t in load_queries(data / "CT2022-Task2A-EN-Train-Dev_Queries.tsv")]
    tweets += [t for _, t in load_queries(data / "CT2022-Task2A-EN-Dev-Test_Queries.tsv")]
    return claims, tweets


def synthetic_pool(claims: list[str], vecs: np.ndarray, n: int, seed: int = 7) -> tuple[list, np.ndarray]:
    from qinglang.match import ClaimDoc

    rng = np.random.default_rng(seed)
    words = [c.split() for c in claims]
    docs: list[ClaimDoc] = []
    out = np.empty((n, vecs.shape[1]), dtype=np.float32)
    m = len(claims)
    for i in range(n):
        b = i % m
        if i < m:
            docs.append(ClaimDoc(f"c{i}", claims[b]))
            out[i] = vecs[b]
            continue
        j = int(rng.integers(m))
        w = list(words[b])
        other = words[j]
        for _ in range(max(1, len(w) // 4)):  # swap a quarter of the words for words of another claim
            w[int(rng.integers(len(w)))] = other[int(rng.integers(len(other)))]
        docs.append(ClaimDoc(f"c{i}", " ".join(w)))
        v = 0.8 * vecs[b] + 0.2 * vecs[j] + rng.normal(scale=0.01, size=vecs.shape[1])
        out[i] = v / np.linalg.norm(v)
    return docs, out


def _raw_worker_init() -> None:
    os.environ["QINGLANG_EMBED_THREADS"] = "1"


def _raw_embed(texts: list[str]) -> int:
    from qinglang.match.embedder import get_embedder
    from qinglang.match.matcher import embedding_text

    get_embedder().embed([embedding_text(t) for t in texts])
    return len(texts)


def raw_two_process(posts: list[str]) -> float:
    """The model's own throughput on both cores: two processes, one thread each."""
    with ProcessPoolExecutor(2, mp_context=get_context("spawn"), initializer=_raw_worker_init) as pool:
        list(pool.map(_raw_embed, [posts[:16], posts[16:32]]))  # load and warm up
        t = time.perf_counter()
        list(pool.map(_raw_embed, [posts[0::2], posts[1::2]]))
        return len(posts) / (time.perf_counter() - t)


def write_posts(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n")


def repeat_stream(posts: list[str], seed: int = 3) -> list[str]:
    """Same length as ``posts``: half are fresh, half repeat an earlier post (exactly or re-spaced/cased)."""
    rng = np.random.default_rng(seed)
    fresh = posts[: len(posts) // 2]
    out: list[str] = []
    for i, t in enumerate(fresh):
        out.append(t)
        prev = out[int(rng.integers(len(out)))]
        out.append(prev if i % 2 else "  " + prev.upper() + " ")
    return out


def pool_quality(m: object, data: Path) -> dict[str, list[float]]:
    """CT2022 Dev-Test on this pool (undated; its debunks are the pool's first rows, the rest are look-alikes):
    [MAP@5, Recall@10] with lexical candidates through the terms' heads (the default) and through every posting."""
    from qinglang.match import lexical
    from qinglang.match.evaluate import load_pool, load_qrels, load_queries, metrics, rank_queries

    row = {d.id: f"c{i}" for i, d in enumerate(load_pool(data / "vclaims_official.jsonl"))}
    qrels = {q: {row[r] for r in rel} for q, rel in load_qrels(data / "CT2022-Task2A-EN-Dev-Test_QRELs.tsv").items()}
    queries = [x for x in load_queries(data / "CT2022-Task2A-EN-Dev-Test_Queries.tsv") if x[0] in qrels]
    out = {}
    for name, head in (("heads", lexical.HEAD_POSTINGS), ("all", 0)):
        m.set_lexical_head(head)  # type: ignore[attr-defined]
        met = metrics(rank_queries(m, queries, dates=False), qrels)
        out[name] = [met["map@5"], met["recall@10"]]
    m.set_lexical_head(lexical.HEAD_POSTINGS)  # type: ignore[attr-defined]
    return out


def one_size(args: argparse.Namespace) -> dict:
    from qinglang.match import Matcher, get_embedder
    from qinglang.match.matcher import clear_text_caches, embedding_text
    from qinglang.match.scan import scan_file

    claims, tweets = load_texts(args.data)
    vecs = np.load(args.vectors)
    emb = get_embedder()
    docs, dv = synthetic_pool(claims, vecs, args.one)
    del vecs
    base_rss = rss_mib()
    t = time.perf_counter()
    m = Matcher(embedder=emb)
    m.upsert(docs, vectors=dv)
    build_s = time.perf_counter() - t
    del docs, dv
    built_rss = rss_mib()
    # incremental publish of one debunk into the built pool
    from qinglang.match import ClaimDoc

    t = time.perf_counter()
    m.upsert([ClaimDoc("new-1", "A brand new rumour about a talking dolphin elected mayor of a seaside town")])
    publish_ms = 1000 * (time.perf_counter() - t)
    found = m.match("dolphin elected town mayor", top_k=3)[0].id == "new-1"

    queries = tweets[: args.queries]
    for q in queries[:10]:
        m.match(q)
    lat = []
    for q in queries:
        t = time.perf_counter()
        m.match(q)
        lat.append(1000 * (time.perf_counter() - t))
    # match-only latency (query vector precomputed) separates index cost from model cost
    qv = emb.embed([embedding_text(q) for q in queries])
    t = time.perf_counter()
    for i, q in enumerate(queries):
        m.candidates_many([q], vectors=qv[i : i + 1], langs=["en"])
    cand_ms = 1000 * (time.perf_counter() - t) / len(queries)

    serving_rss = rss_mib()  # after the queries: what a serving process holds
    posts = tweets[args.queries : args.queries + args.posts]
    res = {"size": args.one, "build_s": build_s, "publish_ms": publish_ms, "publish_found": found,
           "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)), "cand_ms": cand_ms,
           "rss_before_mib": base_rss, "rss_mib": built_rss, "serving_rss_mib": serving_rss, "peak_mib": peak_mib()}

    with tempfile.TemporaryDirectory() as tmp:
        res.update(scan_rounds(m, emb, posts, args.rounds, Path(tmp)))
        pf = Path(tmp) / "posts.jsonl"
        clear_text_caches()
        res["scan_1p"] = _rate(posts, lambda: scan_file(m, pf, Path(tmp) / "o3.jsonl", workers=1))
        if args.two_workers:
            res["raw_2p"] = raw_two_process(posts)
        # The same rounds in a fresh process that loads the pool this one saves, as `qinglang scan` meets a
        # registry (the store's persisted index): this process built the pool, and holds what the build left.
        saved = Path(tmp) / "pool"
        t = time.perf_counter()
        m.save(saved)
        res["save_s"] = time.perf_counter() - t
        cmd = [sys.executable, __file__, "--data", str(args.data), "--scan-saved", str(saved),
               "--queries", str(args.queries), "--posts", str(args.posts), "--rounds", str(args.rounds)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        res["loaded"] = json.loads(out)
    res["quality"] = pool_quality(m, args.data)
    res["peak_mib"] = peak_mib()
    return res


def _rate(texts: list[str], run: object) -> float:
    t = time.perf_counter()
    run()  # type: ignore[operator]
    return len(texts) / (time.perf_counter() - t)


def scan_rounds(m: Any, emb: Any, posts: list[str], n_rounds: int, tmp: Path) -> dict[str, object]:
    """Rounds of (raw model, scan, raw model on the repeat stream, its scan), each ratio against the raw model of
    its own round: the speed this shared machine gives a process drifts by 10-20 % within minutes, and one pair of
    measurements put the same code anywhere in that range. The rounds, and the median round of each measure.

    A process's first scan also pays what is loaded once per process (compiled loops, first runs of the model and
    the re-ranker): a fixed cost that a 1,000-post scan feels and a long one does not. So the first round is kept
    apart (``first``, "first scan÷raw" in the tables), and the medians are over the ``n_rounds`` rounds after it:
    a bulk scan's steady pace."""
    from qinglang.match.matcher import clear_text_caches, embedding_text
    from qinglang.match.scan import scan_file

    pf, rf = tmp / "posts.jsonl", tmp / "rep.jsonl"
    write_posts(pf, posts)
    rep = repeat_stream(posts)
    write_posts(rf, rep)
    rounds = []
    for k in range(n_rounds + 1):
        r: dict[str, float] = {"raw_1p": _rate(posts, lambda: emb.embed([embedding_text(p) for p in posts]))}
        clear_text_caches()  # this process matches too: the posts' texts are new to every scan, as in service
        before = _usage()
        r["scan"] = _rate(posts, lambda k=k: scan_file(m, pf, tmp / f"o1-{k}.jsonl", workers=2))  # the CLI's
        after = _usage()  # the worker's once it has exited
        r["scan_faults"] = (after[0] - before[0]) / len(posts)
        r["scan_user_ms"] = 1000 * (after[1] - before[1]) / len(posts)
        r["scan_sys_ms"] = 1000 * (after[2] - before[2]) / len(posts)
        r["raw_rep_1p"] = _rate(rep, lambda: emb.embed([embedding_text(p) for p in rep]))
        clear_text_caches()
        r["scan_rep"] = _rate(rep, lambda k=k: scan_file(m, rf, tmp / f"o2-{k}.jsonl", workers=2))
        r["ratio"], r["rep_ratio"] = r["scan"] / r["raw_1p"], r["scan_rep"] / r["raw_rep_1p"]
        rounds.append(r)
    res: dict[str, object] = {"first": rounds[0], "rounds": rounds[1:]}
    for key in rounds[0]:
        res[key] = float(np.median([r[key] for r in rounds[1:]]))
    return res


def scan_saved(args: argparse.Namespace) -> dict[str, object]:
    """`scan_rounds` over a pool loaded from ``args.scan_saved``, in this fresh process, as `qinglang scan` loads
    the store's persisted index."""
    from qinglang.match import Matcher, get_embedder

    _, tweets = load_texts(args.data)
    posts = tweets[args.queries : args.queries + args.posts]
    emb = get_embedder()
    t = time.perf_counter()
    m = Matcher.load(args.scan_saved, embedder=emb)
    load_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        res = scan_rounds(m, emb, posts, args.rounds, Path(tmp))
    return {"load_s": load_s, "rss_mib": rss_mib(), **res}


def _usage() -> tuple[int, float, float]:
    """Minor page faults, user and system CPU seconds of this process and its exited children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_minflt + kids.ru_minflt, me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime


def _ratios(rounds: list[dict[str, float]], key: str) -> str:
    """The median round's ratio, and the range over the rounds."""
    xs = sorted(r[key] for r in rounds)
    med = float(np.median(xs))
    return f"{med:.2f}" if len(xs) == 1 else f"{med:.2f} ({xs[0]:.2f}-{xs[-1]:.2f})"


def compare_workers(data: Path, copies: int, pool_size: int = 3000) -> None:
    """scan --workers 1 vs 2 on a longer stream (every tweet ``copies`` times, each copy distinct)."""
    from qinglang.match import Matcher
    from qinglang.match.evaluate import load_pool
    from qinglang.match.scan import scan_file

    _, tweets = load_texts(data)
    m = Matcher(load_pool(data / "vclaims_official.jsonl")[:pool_size])
    posts = [f"{t} (copy {k})" for k in range(copies) for t in tweets]
    with tempfile.TemporaryDirectory() as tmp:
        pf = Path(tmp) / "posts.jsonl"
        write_posts(pf, posts)
        for w in (1, 2):
            t = time.perf_counter()
            scan_file(m, pf, Path(tmp) / f"o{w}.jsonl", workers=w)
            print(f"pool {pool_size:,}, {len(posts):,} distinct posts: scan --workers {w}: "
                  f"{len(posts) / (time.perf_counter() - t):.1f} posts/s", flush=True)
    print(f"load average: {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternated rounds of raw model and scan measurements per size, after a first round given "
                         "apart (medians are printed)")
    ap.add_argument("--workers-only", type=int, default=0, metavar="COPIES",
                    help="only compare scan --workers 1 and 2 on COPIES copies of the real tweets")
    ap.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--two-workers", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--scan-saved", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.workers_only:
        compare_workers(args.data, args.workers_only)
        return
    if args.one:
        print(json.dumps(one_size(args)), flush=True)
        return
    if args.scan_saved:
        print(json.dumps(scan_saved(args)), flush=True)
        return

    from rich.console import Console
    from rich.table import Table

    from qinglang.match import get_embedder
    from qinglang.match.matcher import embedding_text

    claims, _ = load_texts(args.data)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        vf = Path(tmp) / "claims.npy"
        t = time.perf_counter()
        np.save(vf, get_embedder().embed([embedding_text(c) for c in claims]))
        print(f"embedded {len(claims)} real claims in {time.perf_counter() - t:.1f}s "
              f"({len(claims) / (time.perf_counter() - t):.0f}/s)", flush=True)
        for i, n in enumerate(sizes):
            cmd = [sys.executable, __file__, "--data", str(args.data), "--one", str(n), "--vectors", str(vf),
                   "--queries", str(args.queries), "--posts", str(args.posts), "--rounds", str(args.rounds),
                   *(["--two-workers"] if i == 0 else [])]
            t = time.perf_counter()
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            print(f"size {n}: done in {time.perf_counter() - t:.0f}s: {out}", flush=True)
            rows.append(r)
    table = Table(title="claim matcher benchmark (2 cores)")
    for c in ("debunks", "index", "build s", "publish 1 ms", "p50 ms", "p99 ms", "match-only ms", "RSS MiB",
              "RSS serving MiB", "peak MiB", "scan/s", "raw embed/s", "scan÷raw", "first scan÷raw", "repeat scan/s",
              "rep÷raw",
              "1-process scan/s", "scan CPU ms/post user/sys", "faults/post", "MAP@5 heads/all", "R@10 heads/all"):
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(
            f"{r['size']:,}", "numpy" if r["size"] <= 50_000 else "usearch", f"{r['build_s']:.1f}",
            f"{r['publish_ms']:.0f}{'' if r['publish_found'] else ' (not found!)'}", f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}", f"{r['cand_ms']:.1f}", f"{r['rss_mib']:.0f}", f"{r['serving_rss_mib']:.0f}",
            f"{r['peak_mib']:.0f}",
            f"{r['scan']:.0f}", f"{r['raw_1p']:.0f}", _ratios(r["rounds"], "ratio"), f"{r['first']['ratio']:.2f}",
            f"{r['scan_rep']:.0f}", _ratios(r["rounds"], "rep_ratio"), f"{r['scan_1p']:.0f}",
            f"{r['scan_user_ms']:.2f}/{r['scan_sys_ms']:.2f}", f"{r['scan_faults']:.0f}",
            "{:.4f}/{:.4f}".format(r["quality"]["heads"][0], r["quality"]["all"][0]),
            "{:.4f}/{:.4f}".format(r["quality"]["heads"][1], r["quality"]["all"][1]),
        )
    Console(width=300).print(table)
    loaded = Table(title="the same scans in a fresh process that loads the saved pool, as `qinglang scan` does")
    for c in ("debunks", "save s", "load s", "RSS MiB", "scan/s", "raw embed/s", "scan÷raw", "first scan÷raw",
              "repeat scan/s", "rep÷raw", "scan CPU ms/post user/sys", "faults/post"):
        loaded.add_column(c, justify="right")
    for r in rows:
        x = r["loaded"]
        loaded.add_row(
            f"{r['size']:,}", f"{r['save_s']:.1f}", f"{x['load_s']:.1f}", f"{x['rss_mib']:.0f}", f"{x['scan']:.0f}",
            f"{x['raw_1p']:.0f}", _ratios(x["rounds"], "ratio"), f"{x['first']['ratio']:.2f}", f"{x['scan_rep']:.0f}",
            _ratios(x["rounds"], "rep_ratio"),
            f"{x['scan_user_ms']:.2f}/{x['scan_sys_ms']:.2f}", f"{x['scan_faults']:.0f}")
    Console(width=300).print(loaded)
    print(f"load average at the end (other processes share these 2 cores): {os.getloadavg()}")
    if "raw_2p" in rows[0]:
        r = rows[0]
        print(f"at {r['size']:,}: the raw model in 2 processes {r['raw_2p']:.0f}/s; scan --workers 2 "
              f"{r['scan']:.0f}/s is {r['scan'] / r['raw_2p']:.2f} of that")


if __name__ == "__main__":
    main()
