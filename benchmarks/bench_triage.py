"""Throughput of `analyze_many` (every detector, categories and indicators together) and artefact sizes.

Texts are a fixed, seeded mix of COLD dev (zh) and UCI SMS (en) lines read from ../shared/data; the
script reports wall-clock texts/s for 1 and 2 worker processes and texts per CPU-second.

    .venv/bin/python benchmarks/bench_triage.py [--data ../shared/data] [--n 8000]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from qinglang.triage import corpora
from qinglang.triage.analyze import default_triage
from qinglang.triage.models import ARTEFACT_DIR


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=corpora.DEFAULT_DATA)
    ap.add_argument("--n", type=int, default=8000)
    args = ap.parse_args(argv)
    zh = [t for _, t in corpora.cold(args.data / "toxicity-zh/cold/dev.csv")]
    en = [t for _, t in corpora.uci_sms(args.data / "spam/sms-uci-en/SMSSpamCollection.dev.tsv")]
    rng = random.Random(7)
    texts = [rng.choice(zh) if i % 2 else rng.choice(en) for i in range(args.n)]

    t0 = time.perf_counter()
    tri = default_triage()
    load_s = time.perf_counter() - t0
    tri.analyze_many(texts[:200])  # warm caches (regexes, jieba-free paths)

    table = Table(title=f"analyze_many throughput ({args.n} texts, zh/en 50/50, {os.cpu_count()} CPUs)")
    for col in ("workers", "wall s", "texts/s", "texts per CPU-s (parent)"):
        table.add_column(col, justify="right")
    for workers in (1, 2):
        c0, w0 = time.process_time(), time.perf_counter()
        tri.analyze_many(texts, workers=workers)
        wall = time.perf_counter() - w0
        cpu = time.process_time() - c0
        per_cpu = f"{args.n / cpu:,.0f}" if workers == 1 else "-"
        table.add_row(str(workers), f"{wall:.2f}", f"{args.n / wall:,.0f}", per_cpu)
    console = Console(width=120)
    console.print(table)

    sizes = Table(title="artefacts")
    sizes.add_column("file")
    sizes.add_column("MB", justify="right")
    total = 0
    for p in sorted(ARTEFACT_DIR.glob("*")):
        total += p.stat().st_size
        sizes.add_row(p.name, f"{p.stat().st_size / 1e6:.2f}")
    sizes.add_row("total", f"{total / 1e6:.2f}")
    console.print(sizes)
    print(f"model load: {load_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
