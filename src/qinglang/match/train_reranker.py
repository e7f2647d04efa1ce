"""Build the shipped re-ranker: ``python -m qinglang.match.train_reranker --data DIR``.

Trains a LightGBM lambdarank model on CLEF CheckThat! 2022 Task 2A English (free for general research
use), on the Train and Dev queries together (Train_QRELs + Dev_QRELs). Every choice is made by k-fold
cross-validation grouped by query over those queries: the number of trees (best mean held-out MAP@5 over
the folds), the isotonic calibration and the band thresholds (both fitted on the out-of-fold scores).
The final model is then trained on all Train+Dev queries with that number of trees. Dev-Test is never
read here (report it once with benchmarks/eval_match.py).
Each training query is also added with its lexical features blanked, taught on dense-only candidates,
so the model ranks cross-lingual input (no shared words) on the dense signal; and both views again without
the post's date (read from the tweet's embed signature, see ``dates``), so undated input ranks on the text.
Writes ``artefacts/reranker.txt`` and ``artefacts/reranker.json``; never runs at match time.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from qinglang.match import matcher as matcher_module
from qinglang.match.dates import signature_date
from qinglang.match.evaluate import average_precision, load_pool, load_qrels, load_queries
from qinglang.match.features import FEATURES, LEXICAL_IDX
from qinglang.match.matcher import Candidates, Matcher
from qinglang.match.reranker import CALIB_FILE, MODEL_FILE

SEED = 13
FOLDS = 5
MAX_TREES = 1000
STEP = 25
PARAMS = {
    "objective": "lambdarank", "learning_rate": 0.03, "num_leaves": 15, "min_data_in_leaf": 20,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "lambdarank_truncation_level": 20, "num_threads": 2, "seed": SEED, "verbose": -1, "deterministic": True,
    "force_row_wise": True,
}


def _groups(
    matcher: Matcher, queries: list[tuple[str, str]], qrels: dict[str, set[str]], *, lexical: bool, dated: bool
) -> tuple[list[Candidates], list[np.ndarray]]:
    cands: list[Candidates] = []
    for i in range(0, len(queries), 64):
        chunk = [t for _, t in queries[i : i + 64]]
        when = [signature_date(t) if dated else None for t in chunk]
        cands.extend(matcher.candidates_many(chunk, lexical=lexical, dates=when))
    labels = [np.array([1.0 if d in qrels[q] else 0.0 for d in c.ids]) for (q, _), c in zip(queries, cands,
                                                                                              strict=True)]
    if not lexical:
        for c in cands:
            c.x[:, LEXICAL_IDX] = np.nan
    return cands, labels


def _stack(cands: list[Candidates], labels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    keep = [i for i, c in enumerate(cands) if len(c.ids)]
    x = np.concatenate([cands[i].x for i in keep])
    y = np.concatenate([labels[i] for i in keep])
    return x, y, [len(cands[i].ids) for i in keep]


def _map5(raws: list[np.ndarray], cands: list[Candidates], qids: list[str], qrels: dict[str, set[str]]) -> float:
    total = 0.0
    for r, c, q in zip(raws, cands, qids, strict=True):
        ranked = [c.ids[i] for i in np.argsort(-r, kind="stable")] if len(c.ids) else []
        total += average_precision(qrels[q], ranked, 5)
    return total / max(len(qids), 1)


def _predict(booster: object, cands: list[Candidates], trees: int) -> list[np.ndarray]:
    """Raw scores per query from one predict call (per-call overhead dominates at a few dozen rows)."""
    nonempty = [c.x for c in cands if len(c.ids)]
    if not nonempty:
        return [np.zeros(0) for _ in cands]
    allr = booster.predict(np.concatenate(nonempty), num_iteration=trees)  # type: ignore[attr-defined]
    out, pos = [], 0
    for c in cands:
        out.append(allr[pos : pos + len(c.ids)])
        pos += len(c.ids)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/claim-matching/ct2022-2a-en"))
    ap.add_argument("--out-model", type=Path, default=MODEL_FILE)
    ap.add_argument("--out-calibration", type=Path, default=CALIB_FILE)
    ap.add_argument("--folds", type=int, default=FOLDS)
    ap.add_argument("--untitled-views", action="store_true",
                    help="also train on every view against the pool without its titles (an experiment: not shipped, "
                         "see docs/match.md)")
    ap.add_argument("--date-window", type=int,
                    help=f"days either side of a post (default {matcher_module.DATE_WINDOW})")
    ap.add_argument("--date-k", type=int, help=f"date-window candidates (default {matcher_module.DATE_K})")
    ap.add_argument("--pair-k", type=int, help=f"shortlist given the pair features and re-ranked (default "
                                               f"{matcher_module.PAIR_K})")
    args = ap.parse_args()
    if args.folds < 2:
        ap.error("--folds must be at least 2 (cross-validation needs a held-out fold)")
    # Experiments only: the shipped model must be trained with the matcher's own values.
    if args.date_window is not None:
        if args.date_window < 0:
            ap.error("--date-window must be at least 0")
        matcher_module.DATE_WINDOW = args.date_window
    if args.date_k is not None:
        if args.date_k < 1:
            ap.error("--date-k must be at least 1")
        matcher_module.DATE_K = args.date_k
    if args.pair_k is not None:
        if args.pair_k < 1:
            ap.error("--pair-k must be at least 1")
        matcher_module.PAIR_K = args.pair_k
    import lightgbm as lgb
    from sklearn.isotonic import IsotonicRegression

    d = args.data
    t0 = time.perf_counter()
    matcher = Matcher(load_pool(d / "vclaims_official.jsonl"))
    queries = dict(load_queries(d / "CT2022-Task2A-EN-Train-Dev_Queries.tsv"))
    qrels: dict[str, set[str]] = {}
    for name in ("CT2022-Task2A-EN-Train_QRELs.tsv", "CT2022-Task2A-EN-Dev_QRELs.tsv"):
        for q, rel in load_qrels(d / name).items():
            qrels.setdefault(q, set()).update(rel)
    qs = [(q, queries[q]) for q in sorted(qrels) if q in queries]
    qids = [q for q, _ in qs]
    print(f"pool indexed, {len(qs)} train+dev queries ({time.perf_counter() - t0:.0f}s)", flush=True)

    # Four views of every query: with and without lexical evidence, with and without the post's date.
    # With --untitled-views, the same four again against the pool without its titles (keys (lexical, dated, False)).
    views: dict[tuple[bool, ...], tuple[list[Candidates], list[np.ndarray]]] = {
        (lexical, dated): _groups(matcher, qs, qrels, lexical=lexical, dated=dated)
        for dated in (True, False) for lexical in (True, False)}
    if args.untitled_views:
        untitled = Matcher([replace(doc, title="") for doc in load_pool(d / "vclaims_official.jsonl")])
        for dated in (True, False):
            for lexical in (True, False):
                views[lexical, dated, False] = _groups(untitled, qs, qrels, lexical=lexical, dated=dated)
    for (lexical, dated, *untitled_view), (_, ys) in views.items():
        rec = np.mean([y.sum() / len(qrels[q]) for y, q in zip(ys, qids, strict=True)])
        print(f"candidate recall train+dev {'full' if lexical else 'dense-only'}"
              f"{'' if dated else ', no dates'}{', pool without titles' if untitled_view else ''}: {rec:.4f}",
              flush=True)

    # k-fold cross-validation grouped by query (all views of a query stay in the same fold).
    fold = np.random.RandomState(SEED).permutation(len(qs)) % args.folds
    its = list(range(STEP, MAX_TREES + 1, STEP))
    curves = {v: np.zeros((args.folds, len(its))) for v in views}
    boosters = []
    for f in range(args.folds):
        tr = np.flatnonzero(fold != f).tolist()
        te = np.flatnonzero(fold == f).tolist()
        x, y, g = _stack([c[i] for c, _ in views.values() for i in tr], [ys[i] for _, ys in views.values() for i in tr])
        b = lgb.train(PARAMS, lgb.Dataset(x, y, group=g, feature_name=list(FEATURES)), num_boost_round=MAX_TREES)
        boosters.append(b)
        te_q = [qids[i] for i in te]
        for v, (c, _) in views.items():
            held = [c[i] for i in te]
            for j, it in enumerate(its):
                curves[v][f, j] = _map5(_predict(b, held, it), held, te_q, qrels)
        print(f"fold {f}: {len(te)} held-out queries, MAP@5 {curves[True, True][f].max():.4f} at best", flush=True)
    mean = curves[True, True].mean(axis=0)
    best = int(np.argmax(mean))
    trees = its[best]
    others = {v: float(curves[v].mean(axis=0)[best]) for v in views}
    print(f"cv: {trees} trees, MAP@5 {mean[best]:.4f} (folds {np.round(curves[True, True][:, best], 4).tolist()}), "
          f"dense-only view {others[False, True]:.4f}; without dates {others[True, False]:.4f}, "
          f"dense-only {others[False, False]:.4f}", flush=True)
    if args.untitled_views:
        print(f"cv, pool without titles: {others[True, True, False]:.4f}; without dates "
              f"{others[True, False, False]:.4f}", flush=True)

    # Out-of-fold raw scores at the chosen number of trees: calibration and thresholds are fitted on them.
    oof = {v: [np.zeros(0)] * len(qs) for v in views}
    for f, b in enumerate(boosters):
        te = np.flatnonzero(fold == f).tolist()
        for v, (c, _) in views.items():
            for i, r in zip(te, _predict(b, [c[i] for i in te], trees), strict=True):
                oof[v][i] = r
    raws = [r for v in views for r in oof[v]]
    labs = [y for _, ys in views.values() for y in ys]

    # Calibrate on the top-10 candidates of each query (what users see), all views.
    cx, cy = [], []
    for r, ylab in zip(raws, labs, strict=True):
        top = np.argsort(-r)[:10]
        cx.append(r[top])
        cy.append(ylab[top])
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(np.concatenate(cx), np.concatenate(cy))
    xs, ys = iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()

    # Band thresholds from the out-of-fold top-1 hits: `match` at ≥0.9 precision for dated and for undated input
    # alike (the stricter of the two; dated input scores higher), `possible` keeps 95% of true hits.
    def top1(vs: list[tuple[bool, ...]]) -> tuple[np.ndarray, np.ndarray]:
        top_p, top_ok = [], []
        for v in vs:
            for r, ylab in zip(oof[v], views[v][1], strict=True):
                if len(r):
                    i = int(np.argmax(r))
                    top_p.append(float(np.interp(r[i], xs, ys)))
                    top_ok.append(bool(ylab[i]))
        return np.array(top_p), np.array(top_ok)

    groups = {"dated": top1([(True, True), (False, True)]), "undated": top1([(True, False), (False, False)])}
    match_t = 0.0
    for p, ok in groups.values():
        t_group = 1.0
        for t in sorted(set(p.tolist())):
            sel = p >= t
            if sel.sum() >= 20 and ok[sel].mean() >= 0.9:
                t_group = t
                break
        match_t = max(match_t, t_group)
    pos_p = np.concatenate([np.interp(r[ylab > 0], xs, ys) for r, ylab in zip(raws, labs, strict=True)])
    possible_t = float(min(max(np.quantile(pos_p, 0.05), 0.05), match_t / 2))
    for name, (p, ok) in groups.items():
        sel = p >= match_t
        print(f"thresholds: match>={match_t:.3f}: {name} input out-of-fold top-1 precision {ok[sel].mean():.3f}, "
              f"coverage {sel.mean():.3f}; possible>={possible_t:.3f}", flush=True)

    x, y, g = _stack([c for cs, _ in views.values() for c in cs], [y for _, ys in views.values() for y in ys])
    booster = lgb.train(PARAMS, lgb.Dataset(x, y, group=g, feature_name=list(FEATURES)), num_boost_round=trees)
    args.out_model.parent.mkdir(parents=True, exist_ok=True)
    args.out_model.write_text(booster.model_to_string(), encoding="utf-8")
    meta = {
        "features": list(FEATURES), "calibration": {"xs": xs, "ys": ys}, "match_threshold": match_t,
        "possible_threshold": possible_t,
        "trained_on": "CLEF CheckThat! 2022 Task 2A English, Train_QRELs + Dev_QRELs (Train-Dev queries)",
        "tuned_on": f"{args.folds}-fold cross-validation by query over Train+Dev: trees by mean held-out MAP@5, "
                    "isotonic calibration and band thresholds on out-of-fold scores; Dev-Test not used",
        "cv_map5": round(float(mean[best]), 4), "cv_map5_without_dates": round(others[True, False], 4),
        "licence": "free for general research use", "trees": trees,
    }
    args.out_calibration.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    print(f"wrote {args.out_model} and {args.out_calibration} ({time.perf_counter() - t0:.0f}s)")


if __name__ == "__main__":
    main()
