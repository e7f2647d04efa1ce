"""Build the shipped re-ranker: ``python -m qinglang.match.train_reranker --data DIR``.

Trains a LightGBM lambdarank model on CLEF CheckThat! 2022 Task 2A English (free for general research
use): Train-split queries with Train_QRELs for fitting; Dev_QRELs for early stopping, isotonic calibration
and the band thresholds. Dev-Test is never read here (report it with benchmarks/eval_match.py).
Each training query is also added with its lexical features blanked, taught on dense-only candidates,
so the model ranks cross-lingual input (no shared words) on the dense signal.
Writes ``artefacts/reranker.txt`` and ``artefacts/reranker.json``; never runs at match time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from qinglang.match.evaluate import average_precision, load_pool, load_qrels, load_queries
from qinglang.match.features import FEATURES, LEXICAL_IDX
from qinglang.match.matcher import Candidates, Matcher
from qinglang.match.reranker import CALIB_FILE, MODEL_FILE

SEED = 13


def _groups(
    matcher: Matcher, queries: list[tuple[str, str]], qrels: dict[str, set[str]], *, lexical: bool
) -> tuple[list[Candidates], list[np.ndarray]]:
    cands: list[Candidates] = []
    for i in range(0, len(queries), 64):
        cands.extend(matcher.candidates_many([t for _, t in queries[i : i + 64]], lexical=lexical))
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
    return total / len(qids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/claim-matching/ct2022-2a-en"))
    ap.add_argument("--out-model", type=Path, default=MODEL_FILE)
    ap.add_argument("--out-calibration", type=Path, default=CALIB_FILE)
    args = ap.parse_args()
    import lightgbm as lgb
    from sklearn.isotonic import IsotonicRegression

    d = args.data
    t0 = time.perf_counter()
    matcher = Matcher(load_pool(d / "vclaims_official.jsonl"))
    queries = dict(load_queries(d / "CT2022-Task2A-EN-Train-Dev_Queries.tsv"))
    tr_q, dv_q = load_qrels(d / "CT2022-Task2A-EN-Train_QRELs.tsv"), load_qrels(d / "CT2022-Task2A-EN-Dev_QRELs.tsv")
    train = [(q, queries[q]) for q in sorted(tr_q) if q in queries]
    dev = [(q, queries[q]) for q in sorted(dv_q) if q in queries]
    print(f"pool indexed, {len(train)} train / {len(dev)} dev queries ({time.perf_counter() - t0:.0f}s)", flush=True)

    tr_c, tr_y = _groups(matcher, train, tr_q, lexical=True)
    tr_cx, tr_yx = _groups(matcher, train, tr_q, lexical=False)
    dv_c, dv_y = _groups(matcher, dev, dv_q, lexical=True)
    dv_cx, dv_yx = _groups(matcher, dev, dv_q, lexical=False)
    views = (("train", tr_y, tr_q, train), ("dev", dv_y, dv_q, dev), ("dev dense-only", dv_yx, dv_q, dev))
    for name, ys, qr, qs in views:
        rec = np.mean([y.sum() / len(qr[q]) for y, (q, _) in zip(ys, qs, strict=True)])
        print(f"candidate recall {name}: {rec:.4f}", flush=True)

    x, y, g = _stack(tr_c + tr_cx, tr_y + tr_yx)
    xd, yd, gd = _stack(dv_c + dv_cx, dv_y + dv_yx)
    params = {
        "objective": "lambdarank", "metric": "map", "eval_at": [5], "learning_rate": 0.03, "num_leaves": 15,
        "min_data_in_leaf": 20, "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
        "lambda_l2": 1.0, "lambdarank_truncation_level": 20, "num_threads": 2, "seed": SEED, "verbose": -1,
        "deterministic": True, "force_row_wise": True,
    }
    dtrain = lgb.Dataset(x, y, group=g, feature_name=list(FEATURES), free_raw_data=False)
    ddev = lgb.Dataset(xd, yd, group=gd, reference=dtrain)
    booster = lgb.train(params, dtrain, num_boost_round=1500, valid_sets=[ddev],
                        callbacks=[lgb.early_stopping(100, verbose=False)])
    print(f"trees: {booster.best_iteration}", flush=True)

    def raws(cs: list[Candidates]) -> list[np.ndarray]:
        return [booster.predict(c.x, num_iteration=booster.best_iteration) if len(c.ids) else np.zeros(0)
                for c in cs]

    dv_r, dv_rx = raws(dv_c), raws(dv_cx)
    dq = [q for q, _ in dev]
    print(f"dev MAP@5 reranker: {_map5(dv_r, dv_c, dq, dv_q):.4f}  dense-only: {_map5(dv_rx, dv_cx, dq, dv_q):.4f}")

    # Calibrate on the top-10 candidates of each dev query (what users see), both views.
    cx, cy = [], []
    for r, ylab in zip(dv_r + dv_rx, dv_y + dv_yx, strict=True):
        top = np.argsort(-r)[:10]
        cx.append(r[top])
        cy.append(ylab[top])
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(np.concatenate(cx), np.concatenate(cy))
    xs, ys = iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()

    # Band thresholds from the top-1 hits on dev: `match` at ≥0.9 precision, `possible` keeps 95% of true hits.
    top_p, top_ok = [], []
    for r, ylab in zip(dv_r + dv_rx, dv_y + dv_yx, strict=True):
        if len(r):
            i = int(np.argmax(r))
            top_p.append(float(np.interp(r[i], xs, ys)))
            top_ok.append(bool(ylab[i]))
    p, ok = np.array(top_p), np.array(top_ok)
    match_t = 1.0
    for t in sorted(set(p.tolist())):
        sel = p >= t
        if sel.sum() >= 20 and ok[sel].mean() >= 0.9:
            match_t = t
            break
    pos_p = np.concatenate([np.interp(r[ylab > 0], xs, ys) for r, ylab in zip(dv_r + dv_rx, dv_y + dv_yx, strict=True)])
    possible_t = float(min(max(np.quantile(pos_p, 0.05), 0.05), match_t / 2))
    sel = p >= match_t
    print(f"thresholds: match>={match_t:.3f} (dev top-1 precision {ok[sel].mean():.3f}, coverage {sel.mean():.3f}); "
          f"possible>={possible_t:.3f}")

    args.out_model.parent.mkdir(parents=True, exist_ok=True)
    args.out_model.write_text(booster.model_to_string(num_iteration=booster.best_iteration), encoding="utf-8")
    meta = {
        "features": list(FEATURES), "calibration": {"xs": xs, "ys": ys}, "match_threshold": match_t,
        "possible_threshold": possible_t, "trained_on": "CLEF CheckThat! 2022 Task 2A English, Train_QRELs",
        "tuned_on": "Dev_QRELs", "licence": "free for general research use", "trees": booster.best_iteration,
    }
    args.out_calibration.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    print(f"wrote {args.out_model} and {args.out_calibration} ({time.perf_counter() - t0:.0f}s)")


if __name__ == "__main__":
    main()
