"""Benchmark near-duplicate text dedup: cost per report and how well the LSH finds pairs at Jaccard >= 0.7.

Usage: python benchmarks/bench_dedup.py [--reports 6000] [--seed 3] [--viral 4000] [--no-truth]
Texts are bench_intake's synthetic tweet-length reports (templates with varying places and numbers: many pairs
sit near the threshold, the hard case). Each report is looked up against all earlier ones, then indexed with
the case it joined (its own if none). For every configuration of LSH bands × rows, with and without the exact
Jaccard check of the candidates, the table shows the cost per report, the joins, the false joins (joined,
but the exact Jaccard to the joined case's best member is below the threshold) and the missed joins (some
earlier report at Jaccard >= threshold exists, yet none was found). Exact answers come from a brute-force pass.
``--viral N`` adds one viral case: N reposts of one text with small edits (a reference number and an office),
all near-duplicates of each other, looked up and indexed the same way with the configured bands. ``--no-truth``
skips the brute-force pass (quadratic: many minutes at bench_intake's 15,000 reports) and the false and missed
columns with it, to time dedup at that scale.
Prints a table; nothing is written.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_intake import make_report  # noqa: E402

from qinglang.cases import dedup  # noqa: E402


def run(texts: list[str], bands: tuple[int, int], verify: bool) -> tuple[float, list[int | None]]:
    dedup.LSH_BANDS = bands
    threshold, margin = dedup.THRESHOLD, dedup.ESTIMATE_MARGIN
    if not verify:  # every LSH candidate qualifies: no sketch pre-check, no exact Jaccard
        dedup.THRESHOLD, dedup.ESTIMATE_MARGIN = 0.0, 1.0
    try:
        index = dedup.DedupIndex()
        found: list[int | None] = []
        t = time.perf_counter()
        for i, text in enumerate(texts):
            c = index.text_case(text)
            found.append(c)
            index.add_text(text, i if c is None else c)
        return (time.perf_counter() - t) / len(texts) * 1000, found
    finally:
        dedup.THRESHOLD, dedup.ESTIMATE_MARGIN = threshold, margin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--viral", type=int, default=0, metavar="N", help="also time one case of N near-duplicates")
    ap.add_argument("--no-truth", action="store_true", help="skip the brute-force pass (no false/missed counts)")
    args = ap.parse_args()
    if args.reports < 1 or args.viral < 0:
        ap.error("--reports must be at least 1 and --viral at least 0")
    configured = dedup.LSH_BANDS
    rng = random.Random(args.seed)
    texts = [make_report(rng)["text"] for _ in range(args.reports)]
    t = time.perf_counter()
    dedup.warm(texts)
    sig_ms = (time.perf_counter() - t) / len(texts) * 1000
    sigs = [dedup.signature(x) for x in texts]
    # Brute force: for each report, the earlier reports at exact Jaccard >= threshold (for misses and false joins).
    best_earlier: list[float] = []
    pair_j: dict[tuple[int, int], float] = {}
    for i, s in enumerate([] if args.no_truth else sigs):
        best = 0.0
        for j in range(i):
            if s.codes is None or sigs[j].codes is None:
                continue
            if sigs[j].norm == s.norm:
                jv = 1.0
            else:
                est = float(np.mean(sigs[j].minhash.hashvalues == s.minhash.hashvalues))  # type: ignore[union-attr]
                if est < 0.4:
                    continue
                jv = dedup.jaccard(s.codes, sigs[j].codes)
            pair_j[(i, j)] = jv
            best = max(best, jv)
        best_earlier.append(best)
    truth = ("" if args.no_truth else f"; {sum(b >= dedup.THRESHOLD for b in best_earlier):,} have an earlier report "
             f"at Jaccard >= {dedup.THRESHOLD}")
    print(f"{len(texts):,} reports; signature {sig_ms:.3f} ms/report{truth}")
    print()
    print("| LSH bands x rows | exact check | lookup + insert ms/report | joins | false joins | missed joins |")
    print("|---|---|---|---|---|---|")
    for bands in ((8, 8), (12, 5), (16, 4)):
        for verify in (False, True):
            ms, found = run(texts, bands, verify)
            case_of: list[int] = []
            members: dict[int, list[int]] = {}
            false = missed = 0
            for i, c in enumerate([] if args.no_truth else found):
                case = i if c is None else c
                case_of.append(case)
                if c is not None and max(pair_j.get((i, j), 0.0) for j in members[c]) < dedup.THRESHOLD:
                    false += 1
                if c is None and best_earlier[i] >= dedup.THRESHOLD:
                    missed += 1
                members.setdefault(case, []).append(i)
            counts = "- | -" if args.no_truth else f"{false:,} | {missed:,}"
            print(f"| {bands[0]} x {bands[1]} | {'yes' if verify else 'no'} | {ms:.3f} | "
                  f"{sum(c is not None for c in found):,} | {counts} |")
    if args.viral:
        base = "Your parcel is held at customs, pay the release fee at this link within 24 hours or it is returned"
        viral = [f"{base} to sender ref {rng.randint(0, 10**6)} office {rng.randint(0, 999)}"
                 for _ in range(args.viral)]
        dedup.warm(viral)
        ms, found = run(viral, configured, True)
        print()
        print(f"one viral case, {len(viral):,} reposts with small edits ({configured[0]} x {configured[1]} bands, "
              f"exact check): {ms:.3f} ms/report, {sum(c is not None for c in found):,} joined")


if __name__ == "__main__":
    main()
