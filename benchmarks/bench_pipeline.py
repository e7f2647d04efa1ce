"""Benchmark the report pipeline alone (no HTTP): how fast a backlog drains, by analysis helper processes.

Usage: python benchmarks/bench_pipeline.py [--reports 3000] [--processes 0,1,2] [--chunk N] [--round N] [--profile F]
       [--no-settle] [--repeat SHARE]
For each helper count: a fresh SQLite database with the demo data, `--reports` of bench_intake's synthetic
tweet-length reports inserted as intake does, the helpers started and warmed as the worker does, then
`process_reports` over the backlog (in worker rounds, `pipeline.BACKLOG_BATCH`). The embedding model alone on the
texts is timed in the same process before the drain and after it (the ratio is against the mean of the two), and
each analysis step alone after it (embedding, matching with the vectors given, triage, dedup signature; each step
called once before it is timed, so loading its model is not counted). The CPU time the worker process (write
transactions, and the analysis too without helpers) and the helpers spent per report during the drain is read from
the kernel: on a noisy machine it varies much less than the rates; so does the number of cores busy (the whole
machine's, from /proc/stat). The table also gives the worker process's garbage collection
during the drain (collections, full ones, their time and the longest; `--no-settle` leaves the collector as Python
starts it instead of settling it after the warm-up as the worker does). `--repeat 0.5`: that share of the reports
repeats an earlier report's text word for word (a chain message reported again and again), each with its own URL;
the model alone is still timed on every text, repeats included. Each configuration runs in its own process.
Prints a table; the data directories are temporary.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def one(reports: int, processes: int, chunk: int = 0, batch: int = 0, profile: str = "",
        settle: bool = True, repeat: float = 0.0) -> dict[str, float]:
    from bench_intake import busy_cores, embed_rate, machine_times, make_report
    from sqlalchemy import insert

    from qinglang.cases import analysis, intake, pipeline
    from qinglang.lifecycle import settle_heap

    if chunk:
        pipeline.ANALYSIS_CHUNK = chunk
    # Rounds as a worker claims them while intake is quiet (or ``batch``).
    BATCH = batch or pipeline.BACKLOG_BATCH  # noqa: N806
    from qinglang.match.store_source import set_index_dir
    from qinglang.settings import Settings
    from qinglang.store.db import get_database
    from qinglang.store.models import Report

    settings = Settings()
    db = get_database(settings.db_url)
    set_index_dir(db, settings.data_dir / "index")
    rng = random.Random(1)
    pick = random.Random(2)  # its own generator: the reports' own texts stay those of a run without repeats
    rows = []
    for i in range(reports):
        r = make_report(rng)
        if repeat and rows and pick.random() < repeat:  # the text of an earlier report, the URL its own
            r["text"] = rows[pick.randrange(len(rows))]["text"]
        rows.append(intake.prepare(intake.ReportInput(category=r["category"], text=r["text"], url=r["url"]),
                                   settings, client_key=f"10.0.{i % 200}.{i % 7}").row)
    with db.write() as s:
        ids = list(s.execute(insert(Report).returning(Report.id, sort_by_parameter_order=True), rows).scalars())
    helpers = analysis.start_helpers(db) if processes else None
    while helpers is not None and not helpers.ready():
        time.sleep(0.2)
    warm = 256
    pipeline.process_reports(db, ids[:warm])  # warm-up: models, index, dedup
    texts = [r["text"] for r in rows]
    # The model alone before the drain and again after it (the machine's speed drifts within minutes; the ratio
    # is taken against the mean of the two).
    model_before, _ = embed_rate(texts, min(4000, len(rows)))
    if settle:
        settle_heap()  # as the worker does once its models are loaded
    collector = GcClock()
    pids = list(getattr(getattr(helpers, "_pool", None), "_processes", None) or {})
    cpu_main, cpu_helpers = time.process_time(), sum(map(cpu_seconds, pids))
    machine = machine_times()
    prof = None
    if profile:  # the worker process's own work during the drain (its write transactions), for pstats
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t = time.perf_counter()
    done = 0
    with collector:
        for k in range(warm, len(ids), BATCH):
            done += pipeline.process_reports(db, ids[k:k + BATCH])
    elapsed = time.perf_counter() - t
    cores_busy = busy_cores(machine, machine_times(), elapsed)
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    cpu_main = time.process_time() - cpu_main
    cpu_helpers = sum(map(cpu_seconds, pids)) - cpu_helpers
    analysis.stop_helpers()
    model_after, _ = embed_rate(texts, min(4000, len(rows)))
    return {"processed": done, "seconds": elapsed, "rate": done / elapsed, "model_before": model_before,
            "model_after": model_after, "model": (model_before + model_after) / 2,
            "main_cpu_ms": 1000 * cpu_main / done, "helper_cpu_ms": 1000 * cpu_helpers / done,
            "gc_collections": collector.collections, "gc_full": collector.full, "gc_seconds": collector.seconds,
            "gc_longest_ms": collector.longest * 1000,
            "cores_busy": cores_busy,
            **stage_costs(db, texts[:1024])}


class GcClock:
    """Counts this process's garbage collections and the time they take while the block runs (gc.callbacks)."""

    def __init__(self) -> None:
        self.collections = self.full = 0
        self.seconds = self.longest = 0.0
        self._started = 0.0

    def _event(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        self.collections += 1
        self.full += info["generation"] == 2
        self.seconds += took
        self.longest = max(self.longest, took)

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._event)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._event)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (Linux /proc)."""
    from bench_intake import proc_stat

    return proc_stat(pid)[1]


def stage_costs(db: object, texts: list[str]) -> dict[str, float]:
    """Milliseconds per report of each analysis step alone, in the pipeline's analysis chunks."""
    from qinglang.cases import dedup
    from qinglang.cases.pipeline import ANALYSIS_CHUNK
    from qinglang.cases.triage_bridge import analyze_reports
    from qinglang.match.store_source import holder

    matcher = holder(db).get()  # type: ignore[arg-type]
    chunks = [texts[k:k + ANALYSIS_CHUNK] for k in range(0, len(texts), ANALYSIS_CHUNK)]

    def ms(fn: object) -> float:
        fn(chunks[0][:8])  # type: ignore[operator]  # first call loads the step's model: not a per-report cost
        t = time.perf_counter()
        for c in chunks:
            fn(c)  # type: ignore[operator]
        return (time.perf_counter() - t) / len(texts) * 1000

    vecs = {}
    out = {"embed_ms": ms(lambda c: vecs.__setitem__(c[0], matcher.embed(c)))}
    out["match_ms"] = ms(lambda c: matcher.match_many(  # the warm-up call (8 texts) embeds its own
        c, top_k=1, vectors=vecs[c[0]] if len(vecs[c[0]]) == len(c) else None))
    out["triage_ms"] = ms(lambda c: analyze_reports(c, [""] * len(c)))
    out["signature_ms"] = ms(lambda c: [dedup.compute(t) for t in c])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=3000)
    ap.add_argument("--processes", default="0,1,2", help="analysis helper process counts to compare")
    ap.add_argument("--chunk", type=int, default=0, help="analysis chunk (default: pipeline.ANALYSIS_CHUNK)")
    ap.add_argument("--round", type=int, default=0, help="reports per round (default: pipeline.BACKLOG_BATCH)")
    ap.add_argument("--profile", default="", metavar="FILE",
                    help="write a cProfile of the worker process's drain to FILE (one helper count only; the "
                         "profiler slows the worker, so the rates of such a run are not comparable)")
    ap.add_argument("--no-settle", action="store_true",
                    help="leave the worker process's garbage collector as Python starts it (no lifecycle.settle_heap)")
    ap.add_argument("--repeat", type=float, default=0.0,
                    help="share of reports whose text repeats an earlier report's word for word (0-1)")
    ap.add_argument("--one", type=int, default=-1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one >= 0:
        print("RESULT " + json.dumps(one(args.reports, args.one, args.chunk, args.round, args.profile,
                                         not args.no_settle, args.repeat)))
        return
    if not 0.0 <= args.repeat < 1.0:
        ap.error("--repeat must be in [0, 1)")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, {args.reports:,} reports"
          f"{f', {args.repeat:.0%} of them repeating an earlier text' if args.repeat else ''}", flush=True)
    print()
    print("| analysis helper processes | drained | pipeline reports/s | model alone texts/s: before / after; mean "
          "| ratio to the mean | CPU ms per report: worker / helpers; cores busy "
          "| embed / match / triage / dedup signature ms per report, alone "
          "| worker GC during the drain: collections (full) / seconds / longest |")
    print("|---|---|---|---|---|---|---|---|")
    for p in [int(x) for x in args.processes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="qinglang-pipe-") as d:
            env = dict(os.environ, QINGLANG_DATA_DIR=d, QINGLANG_SECRET_KEY="bench-" + "k" * 48,
                       QINGLANG_LOG_LEVEL="warning", QINGLANG_ANALYSIS_PROCESSES=str(p), QINGLANG_DATABASE_URL="")
            for cmd in (["db", "upgrade"], ["demo", "load"]):
                subprocess.run([sys.executable, "-m", "qinglang.cli", *cmd], env=env, check=True,
                               stdout=subprocess.DEVNULL)
            out = subprocess.run([sys.executable, __file__, "--reports", str(args.reports), "--one", str(p),
                                  "--chunk", str(args.chunk), "--round", str(args.round), "--profile",
                                  str(Path(args.profile).resolve()) if args.profile else "",
                                  *(["--no-settle"] if args.no_settle else []), "--repeat", str(args.repeat)],
                                 env=env, check=True, capture_output=True, text=True).stdout
            r = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
            print(f"| {p} | {int(r['processed']):,} in {r['seconds']:.1f} s | {r['rate']:,.0f}/s | "
                  f"{r['model_before']:,.0f} / {r['model_after']:,.0f}; {r['model']:,.0f}/s | "
                  f"{r['rate'] / r['model']:.2f}x | {r['main_cpu_ms']:.2f} / {r['helper_cpu_ms']:.2f}; "
                  f"{r['cores_busy']:.2f} | {r['embed_ms']:.2f} / {r['match_ms']:.2f} / "
                  f"{r['triage_ms']:.2f} / {r['signature_ms']:.2f} | {r['gc_collections']:,} ({r['gc_full']}) / "
                  f"{r['gc_seconds']:.2f} s / {r['gc_longest_ms']:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
