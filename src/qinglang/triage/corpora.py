"""Readers for the public labelled corpora the team trains and evaluates on (formats only, no data).

Each reader takes a path and returns (label, text) pairs with binary labels '1'/'0' (or the class
name for multi-class sets). Never bundles, copies or downloads data: callers pass paths, by default
under ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from qinglang.errors import NotFound

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"


def _need(p: Path) -> Path:
    if not p.exists():
        raise NotFound(f"no such file: {p}", field="data")
    return p


def cold(path: str | Path) -> list[tuple[str, str]]:
    """COLD (Apache-2.0) CSV: columns ``label`` (1 = offensive) and ``TEXT``."""
    with _need(Path(path)).open(encoding="utf-8-sig", newline="") as f:
        return [(r["label"].strip(), r["TEXT"]) for r in csv.DictReader(f) if r.get("TEXT")]


def uci_sms(path: str | Path) -> list[tuple[str, str]]:
    """UCI SMS Spam Collection: ``ham|spam<TAB>text`` without header."""
    out = []
    with _need(Path(path)).open(encoding="utf-8", newline="") as f:
        for line in f:
            lab, _, text = line.rstrip("\n").partition("\t")
            if text:
                out.append(("1" if lab.strip() == "spam" else "0", text))
    return out


def sms_zh(path: str | Path) -> list[tuple[str, str]]:
    """Chinese SMS spam 10k: TSV with header ``label<TAB>text``."""
    csv.field_size_limit(sys.maxsize)
    with _need(Path(path)).open(encoding="utf-8", newline="") as f:
        r = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(r, None)
        return [(row[0].strip(), row[1]) for row in r if len(row) >= 2 and row[1]]


def weibo21(path: str | Path) -> list[tuple[str, str]]:
    """Weibo21 JSONL: ``content`` and ``label`` (1 = fake news)."""
    out = []
    with _need(Path(path)).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out.append((str(d["label"]), d["content"]))
    return out


def telecom_fraud(folder: str | Path) -> list[tuple[str, str]]:
    """Telecom-fraud-5: label00 normal plus four fraud types; returns (class name, text).

    The class is ``normal`` for label00 and the file's own type name (e.g. 冒充公检法及政府机关类) otherwise.
    """
    d = _need(Path(folder))
    out: list[tuple[str, str]] = []
    csv.field_size_limit(sys.maxsize)
    for f in sorted(d.glob("label0*.csv")):
        with f.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                text, lab = row.get("content") or "", (row.get("label") or "").strip()
                if not text:
                    continue
                out.append(("normal" if f.name.startswith("label00") or lab == "0" else lab, text))
    return out
