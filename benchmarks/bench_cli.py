"""Benchmark what one CLI command costs from a cold process: `qinglang match` against a small pool.

Usage: python benchmarks/bench_cli.py [--runs 5] [--src PATH]
Each run is a fresh interpreter (`python -c "from qinglang.cli import app; app()" match ...`), so it pays the
imports, the model and re-ranker loads and one match: what a user waits for at the terminal, and what every new
process (a scan worker, an analysis helper) pays once. The pool is two claims written into a temporary directory.
``--src``: another checkout's `src` directory to measure instead (for a before/after comparison; its compiled
loops are compiled on its first run, so that run is dropped). Prints the median and range of wall time, user CPU
and peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = [
    {"vclaim_id": "salt", "vclaim": "食用碘盐可以预防核辐射"},
    {"vclaim_id": "5g", "vclaim": "5G towers spread the coronavirus"},
]


def one_run(src: Path, pool: Path) -> tuple[float, float, float]:
    """(wall seconds, user CPU seconds, peak RSS MiB) of one cold `qinglang match`."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from qinglang.cli import app; app()", "match", "5G masts spread covid",
         "--pool", str(pool), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(src)})
    assert proc.stdout is not None
    answer = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time and peak memory
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or json.loads(answer)[0]["id"] != "5g":
        raise SystemExit(f"qinglang match failed (exit {proc.returncode}): {answer[:200]!r}")
    return wall, usage.ru_utime, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--src", type=Path, default=ROOT / "src")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / "pool.jsonl"
        pool.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in CLAIMS), encoding="utf-8")
        one_run(args.src, pool)  # compiles the checkout's loops if it never ran
        runs = [one_run(args.src, pool) for _ in range(args.runs)]
    print(f"qinglang match, cold process, {args.runs} runs of {args.src}")
    for name, k, unit in (("wall", 0, "s"), ("user CPU", 1, "s"), ("peak RSS", 2, "MiB")):
        xs = [r[k] for r in runs]
        print(f"  {name:9s} median {statistics.median(xs):7.2f} {unit}  (range {min(xs):.2f}-{max(xs):.2f})")


if __name__ == "__main__":
    main()
