"""Evaluate the claim matcher on CT2022 2A (and, when present, the team's Chinese set).

Usage: python benchmarks/eval_match.py [--data ../shared/data/claim-matching/ct2022-2a-en] [--zh tests/data/match_zh]
                                       [--unrelated ../shared/data/spam] [--unrelated-n 1000]
Queries are dated by their embedded-tweet signature line (see qinglang.match.dates); Dev-Test is also run
with the dates withheld, and against the pool with its titles removed. Prints one line per evaluation; numbers
for docs/match.md come from here. Never writes into the repo.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from qinglang.match import Matcher
from qinglang.match.dates import signature_date
from qinglang.match.evaluate import (
    band_stats,
    load_pool,
    load_qrels,
    load_queries,
    metrics,
    rank_queries,
    summary_line,
)
from qinglang.match.reranker import Scorer, load_scorer

ROOT = Path(__file__).resolve().parents[1]


def run(name: str, matcher: Matcher, queries: Path, qrels: Path, *, dates: bool = True) -> None:
    q = load_queries(queries)
    r = load_qrels(qrels)
    q = [x for x in q if x[0] in r]
    t = time.perf_counter()
    bands: dict[str, str] = {}
    ranks = rank_queries(matcher, q, k=10, dates=dates, bands=bands)
    m = metrics(ranks, r)
    dt = time.perf_counter() - t
    b = band_stats(ranks, bands, {x: r[x] for x, _ in q})
    print(f"{name:34s} n={len(q):4d} {summary_line(m)} recall@5={m['recall@5']:.4f} | band match: "
          f"{b['shown_right']}/{b['right']} right top hits ({b['coverage']:.0%}), precision {b['precision']:.3f} "
          f"({dt:.1f}s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/claim-matching/ct2022-2a-en")
    ap.add_argument("--zh", type=Path, default=ROOT / "tests/data/match_zh")
    ap.add_argument("--fallback", action="store_true", help="use z-score fusion instead of the trained re-ranker")
    ap.add_argument("--splits", default="dev,devtest,untitled",
                    help="dev, devtest, untitled (Dev-Test against the pool with its titles removed)")
    ap.add_argument("--pair-k", default="", help="comma-separated shortlist sizes to compare on CT2022 (e.g. 30,20,15)")
    ap.add_argument("--head-postings", default="",
                    help="comma-separated lexical head sizes to compare on CT2022 Train, Dev and Dev-Test "
                         "(0: every posting; see lexical.HEAD_POSTINGS)")
    ap.add_argument("--gaps", action="store_true",
                    help="print the days from each CT2022 tweet to its matching debunk's publication, then stop")
    ap.add_argument("--unrelated", type=Path, default=ROOT.parent / "shared/data/spam",
                    help="SMS data sets (sms-uci-en, sms-zh-10k): unrelated messages matched against the demo registry")
    ap.add_argument("--unrelated-n", type=int, default=1000, help="messages per language for --unrelated")
    ap.add_argument("--model", type=Path, help="re-ranker model file (default: the shipped one)")
    ap.add_argument("--calibration", type=Path, help="its calibration JSON (with --model)")
    args = ap.parse_args()
    if args.unrelated_n < 1:
        ap.error("--unrelated-n must be at least 1")
    if args.fallback:
        scorer = load_scorer(Path("/nonexistent"), Path("/nonexistent"))
    elif args.model:
        scorer = load_scorer(args.model, args.calibration or args.model.with_suffix(".json"))
    else:
        scorer = load_scorer()
    label = "fusion" if args.fallback else ("reranker" if scorer.booster is not None else "fusion")
    d = args.data
    if args.gaps:
        gaps(d)
        return
    if d.is_dir():
        t = time.perf_counter()
        m = Matcher(load_pool(d / "vclaims_official.jsonl"), scorer=scorer)
        print(f"CT2022 pool: {len(m)} claims indexed in {time.perf_counter() - t:.1f}s", flush=True)
        splits = args.splits.split(",")
        for k in [int(x) for x in args.pair_k.split(",") if x.strip()]:
            from qinglang.match import matcher as matcher_module

            matcher_module.PAIR_K = k
            run(f"ct2022 dev [{label}, PAIR_K={k}]", m, d / "CT2022-Task2A-EN-Train-Dev_Queries.tsv",
                d / "CT2022-Task2A-EN-Dev_QRELs.tsv")
        if args.pair_k:
            return
        for h in [int(x) for x in args.head_postings.split(",") if x.strip()]:
            m.set_lexical_head(h)
            for split, qf in (("train", "Train-Dev"), ("dev", "Train-Dev"), ("dev-test", "Dev-Test")):
                run(f"ct2022 {split} [{label}, head {h}]", m, d / f"CT2022-Task2A-EN-{qf}_Queries.tsv",
                    d / f"CT2022-Task2A-EN-{split.title()}_QRELs.tsv")
        if args.head_postings:
            return
        if "dev" in splits:
            run(f"ct2022 dev [{label}]", m, d / "CT2022-Task2A-EN-Train-Dev_Queries.tsv",
                d / "CT2022-Task2A-EN-Dev_QRELs.tsv")
        if "devtest" in splits:
            run(f"ct2022 dev-test [{label}]", m, d / "CT2022-Task2A-EN-Dev-Test_Queries.tsv",
                d / "CT2022-Task2A-EN-Dev-Test_QRELs.tsv")
            # The same posts with their dates withheld: what undated input (most reports) gets.
            run(f"ct2022 dev-test, no dates [{label}]", m, d / "CT2022-Task2A-EN-Dev-Test_Queries.tsv",
                d / "CT2022-Task2A-EN-Dev-Test_QRELs.tsv", dates=False)
        if "untitled" in splits:
            # A pool of bare claims, as many are (no headline): every title feature is missing.
            bare = Matcher([replace(doc, title="") for doc in load_pool(d / "vclaims_official.jsonl")], scorer=scorer)
            for dated in (True, False):
                run(f"ct2022 dev-test, pool without titles{'' if dated else ', no dates'} [{label}]", bare,
                    d / "CT2022-Task2A-EN-Dev-Test_Queries.tsv", d / "CT2022-Task2A-EN-Dev-Test_QRELs.tsv",
                    dates=dated)
    z = args.zh
    if (z / "pool_zh.jsonl").is_file():
        _zh(z, scorer, label)
    if args.unrelated.is_dir():
        _unrelated(args.unrelated, args.unrelated_n, scorer, label)


def _unrelated(spam: Path, n: int, scorer: Scorer, label: str) -> None:
    """Ordinary messages (SMS, English and Chinese) against the demo registry, which debunks none of them: every
    one given the `match` band would be shown as "already refuted" by mistake. A registry of a few dozen debunks
    is where pool-relative evidence (BM25's idf, z-scores) is least reliable."""
    import csv
    import random

    from qinglang.demo import load_jsonl
    from qinglang.match import ClaimDoc

    demo = Matcher([ClaimDoc(id=d["key"], claim=d["claim"], variants=tuple(d.get("variants", [])),
                             title=d.get("summary", ""), lang=d["lang"]) for d in load_jsonl("debunks.jsonl")],
                   scorer=scorer)
    for name, path, skip in (("en", spam / "sms-uci-en/SMSSpamCollection.dev.tsv", 0),
                             ("zh", spam / "sms-zh-10k/sms_zh_10k.tsv", 1)):
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", newline="") as f:
            rows = [r for r in list(csv.reader(f, delimiter="\t"))[skip:] if len(r) > 1 and r[1].strip()]
        random.Random(0).shuffle(rows)
        texts = [r[1] for r in rows[:n]]
        shown = sum(1 for hs in demo.match_many(texts, top_k=1, explain=False) if hs and hs[0].band == "match")
        print(f"unrelated SMS ({name}) vs demo registry ({len(demo)} debunks) [{label}]  n={len(texts):4d} "
              f"given the match band: {shown} ({shown / max(len(texts), 1):.1%})", flush=True)


def gaps(d: Path) -> None:
    """How far apart in time a tweet and its matching debunk are (what the date features and window rest on)."""
    import numpy as np

    published = {doc.id: doc.published for doc in load_pool(d / "vclaims_official.jsonl")}
    for split, queries in (("Train", "Train-Dev"), ("Dev", "Train-Dev"), ("Dev-Test", "Dev-Test")):
        texts = dict(load_queries(d / f"CT2022-Task2A-EN-{queries}_Queries.tsv"))
        days = []
        for q, rel in load_qrels(d / f"CT2022-Task2A-EN-{split}_QRELs.tsv").items():
            posted = signature_date(texts.get(q, ""))
            days += [(published[r] - posted).days for r in rel if posted and published.get(r)]
        a = np.array(days)
        p5, p25, p50, p75, p95 = np.percentile(a, [5, 25, 50, 75, 95]).tolist()
        near = ((a >= -30) & (a <= 60)).mean()
        print(f"{split:9s} pairs with both dates {len(a):4d}: days from tweet to debunk p5 {p5:.0f} p25 {p25:.0f} "
              f"median {p50:.0f} p75 {p75:.0f} p95 {p95:.0f}; within -30..+60 days {near:.3f}, "
              f"within ±15 days {(np.abs(a) <= 15).mean():.3f}", flush=True)


def _zh(z: Path, scorer: Scorer, label: str) -> None:
    pool_zh = Matcher(load_pool(z / "pool_zh.jsonl"), scorer=scorer)
    pool_en = Matcher(load_pool(z / "pool_en.jsonl"), scorer=scorer)
    run(f"zh->zh [{label}]", pool_zh, z / "queries_zh.tsv", z / "qrels.tsv")
    run(f"en->en [{label}]", pool_en, z / "queries_en.tsv", z / "qrels.tsv")
    run(f"zh->en [{label}]", pool_en, z / "queries_zh.tsv", z / "qrels.tsv")
    run(f"en->zh [{label}]", pool_zh, z / "queries_en.tsv", z / "qrels.tsv")
    # A registry in both languages, as the product's is: each debunk in one of them (alternately), so a post's
    # candidates are partly in its language (with lexical evidence) and partly not (the dense view only).
    both = [zh if i % 2 == 0 else en for i, (zh, en) in enumerate(zip(load_pool(z / "pool_zh.jsonl"),
                                                                       load_pool(z / "pool_en.jsonl"), strict=True))]
    pool_both = Matcher(both, scorer=scorer)
    run(f"zh->zh+en [{label}]", pool_both, z / "queries_zh.tsv", z / "qrels.tsv")
    run(f"en->zh+en [{label}]", pool_both, z / "queries_en.tsv", z / "qrels.tsv")


if __name__ == "__main__":
    main()
