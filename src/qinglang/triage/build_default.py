"""Build the shipped default triage models: ``python -m qinglang.triage.build_default [--data DIR] [--out FILE]``.

Uses ONLY data the project may redistribute: the team's own seed lines (``qinglang/data/triage``),
COLD (Apache-2.0, thu-coai/COLDataset) and the UCI SMS Spam Collection (free; cite Almeida, Gómez
Hidalgo and Yamakami 2011). The research-only sets (Weibo21, telecom-fraud-5, Chinese SMS 10k) must
never be added here; `benchmarks/eval_triage.py` uses them for measurement only. Deterministic for
the same inputs (fixed seeds).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from qinglang.triage import corpora
from qinglang.triage.categories import as_codes, train_category_model
from qinglang.triage.data import read_tsv, seed_path
from qinglang.triage.features import Featurizer
from qinglang.triage.models import DEFAULT_ARTEFACT, TriageModels, train_detector, train_multiclass

SOURCES = {
    "seed": "qinglang team seed lines (src/qinglang/data/triage), project licence",
    "cold": "COLD, thu-coai/COLDataset, Apache-2.0",
    "uci_sms": "UCI SMS Spam Collection (dev split), Almeida et al. 2011, free with citation",
}
COLD_FOR_CATEGORIES = 3000  # per class; keeps `hate` from drowning the seed categories


def build(data_dir: Path, *, extra: list[tuple[str, str]] | None = None, seed: int = 13) -> TriageModels:
    """Train every model; ``extra`` adds (category labels, text) pairs, e.g. reviewer decisions."""
    rng = random.Random(seed)
    fz = Featurizer()
    seeds = read_tsv(seed_path("categories_zh.tsv")) + read_tsv(seed_path("categories_en.tsv"))
    fraud_types = read_tsv(seed_path("fraud_types.tsv"))
    spam_seed = read_tsv(seed_path("spam.tsv"))
    cold = corpora.cold(data_dir / "toxicity-zh/cold/train.csv") + corpora.cold(data_dir / "toxicity-zh/cold/dev.csv")
    uci = corpora.uci_sms(data_dir / "spam/sms-uci-en/SMSSpamCollection.dev.tsv")

    # Categories: seeds, fraud-type lines as `fraud`, a balanced COLD sample as hate/none, UCI ham as none.
    cold_pos = [t for lab, t in cold if lab == "1"]
    cold_neg = [t for lab, t in cold if lab == "0"]
    ham = [t for lab, t in uci if lab == "0"]
    cat_pairs: list[tuple[str, str]] = list(seeds) + [("fraud", t) for _, t in fraud_types]
    cat_pairs += [("hate", t) for t in rng.sample(cold_pos, COLD_FOR_CATEGORIES)]
    cat_pairs += [("none", t) for t in rng.sample(cold_neg, COLD_FOR_CATEGORIES)]
    cat_pairs += [("none", t) for t in rng.sample(ham, 1500)]
    cat_pairs += list(extra or [])
    categories = train_category_model(cat_pairs, featurizer=fz)

    neutral = [("0", t) for t in rng.sample(cold_neg, 2000) + rng.sample(ham, 1500)]
    rng.shuffle(neutral)
    seed_codes = [(as_codes(lab), t) for lab, t in seeds]
    fraud_pairs = [("1", t) for _, t in fraud_types] + [("1" if "fraud" in c else "0", t) for c, t in seed_codes]
    fraud = train_detector(fraud_pairs + neutral, featurizer=fz, balanced=True)
    fraud_type = train_multiclass(fraud_types, featurizer=fz)

    spam_pairs = list(uci) + spam_seed + [("0", t) for t in rng.sample(cold_neg, 1500)]
    spam = train_detector(spam_pairs, featurizer=fz, balanced=True, weighting="nb")

    en_abuse = [("1" if "hate" in c else "0", t) for c, t in seed_codes]
    abuse = train_detector(cold + en_abuse + [("0", t) for t in rng.sample(ham, 1500)], featurizer=fz)

    misinfo_pairs = [("1" if "rumor" in c else "0", t) for c, t in seed_codes]
    misinfo = train_detector(misinfo_pairs + neutral[:1000], featurizer=fz, balanced=True, C=2.0)

    meta = {"sources": SOURCES, "rows": {"seed": len(seeds) + len(fraud_types) + len(spam_seed),
                                         "cold": len(cold), "uci_sms": len(uci), "extra": len(extra or [])}}
    return TriageModels(fz, categories, fraud, fraud_type, spam, abuse, misinfo, meta)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=corpora.DEFAULT_DATA, help="folder holding the shared data sets")
    ap.add_argument("--out", type=Path, default=DEFAULT_ARTEFACT, help="artefact file to write")
    args = ap.parse_args(argv)
    path = build(args.data).save(args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
