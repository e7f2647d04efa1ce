"""Evaluation of claim matching in the CLEF CheckThat! 2022 Task 2A formats.

Loaders for the formats in DESIGN.md (pool JSONL ``vclaim_id``/``vclaim``/optional ``title`` and ``date``; queries TSV
``id<TAB>text``; qrels TSV ``qid<TAB>0<TAB>vclaim_id<TAB>1``) and the task's metrics: MAP@k, P@1 and
Recall@k, averaged over the queries that have relevance judgements, with the relevant-document count of
the official scorer (AP@k divides by all relevant documents of the query). Never writes files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from qinglang.errors import Invalid, NotFound
from qinglang.match.dates import parse_date, signature_date
from qinglang.match.types import ClaimDoc


def _open(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"file not found: {path}")
    return path.read_text(encoding="utf-8-sig").splitlines()


def load_pool(path: Path) -> list[ClaimDoc]:
    """Claim pool JSONL → ClaimDocs (``variants``, ``lang`` and the publication ``date`` are read when present)."""
    docs: list[ClaimDoc] = []
    for n, line in enumerate(_open(path), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            docs.append(
                ClaimDoc(
                    id=str(rec["vclaim_id"]), claim=str(rec["vclaim"]),
                    variants=tuple(str(v) for v in rec.get("variants", ()) or ()),
                    title=str(rec.get("title") or ""), lang=str(rec.get("lang") or "und"),
                    published=_lenient_date(rec.get("date") or rec.get("published")),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise Invalid(f"{path}:{n}: not a pool record with vclaim_id and vclaim ({e})") from e
    return docs


def _lenient_date(value: object) -> date | None:
    """A pool record's publication date; scraped pools carry a few unreadable ones, which count as unknown."""
    try:
        return parse_date(value or None)
    except Invalid:
        return None


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def load_queries(path: Path) -> list[tuple[str, str]]:
    """Queries TSV (``id<TAB>text``, no header) → [(id, text)]."""
    out: list[tuple[str, str]] = []
    for n, line in enumerate(_open(path), start=1):
        if not line.strip():
            continue
        qid, sep, text = line.partition("\t")
        if not sep or not qid.strip():
            raise Invalid(f"{path}:{n}: expected id<TAB>text")
        out.append((qid.strip(), _unquote(text.strip())))
    return out


def load_qrels(path: Path) -> dict[str, set[str]]:
    """Qrels TSV (``qid 0 vclaim_id relevance``) → {qid: {relevant ids}}."""
    out: dict[str, set[str]] = {}
    for n, line in enumerate(_open(path), start=1):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 4:
            raise Invalid(f"{path}:{n}: expected qid<TAB>0<TAB>vclaim_id<TAB>relevance")
        qid, _, did, rel = (p.strip() for p in parts[:4])
        try:
            relevant = int(float(rel)) > 0
        except ValueError as e:
            raise Invalid(f"{path}:{n}: relevance must be a number") from e
        if relevant:
            out.setdefault(qid, set()).add(did)
    return out


def average_precision(relevant: set[str], ranked: Sequence[str], k: int) -> float:
    """AP@k as in the CheckThat! scorer: precision at each relevant hit in the top k, over all relevant."""
    if not relevant:
        return 0.0
    found = 0
    total = 0.0
    for i, d in enumerate(ranked[:k]):
        if d in relevant:
            found += 1
            total += found / (i + 1)
    return total / len(relevant)


def metrics(rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, set[str]]) -> dict[str, float]:
    """map@1, map@5, p@1 and recall@k for k in 1, 5, 10 over the judged queries (missing ranking = miss)."""
    qids = [q for q in qrels if qrels[q]]
    if not qids:
        raise Invalid("no judged queries in the qrels")
    acc = dict.fromkeys(("map@1", "map@5", "map@10", "p@1", "recall@1", "recall@5", "recall@10"), 0.0)
    for q in qids:
        rel, ranked = qrels[q], list(rankings.get(q, ()))
        acc["map@1"] += average_precision(rel, ranked, 1)
        acc["map@5"] += average_precision(rel, ranked, 5)
        acc["map@10"] += average_precision(rel, ranked, 10)
        acc["p@1"] += 1.0 if ranked[:1] and ranked[0] in rel else 0.0
        for k in (1, 5, 10):
            acc[f"recall@{k}"] += len(rel & set(ranked[:k])) / len(rel)
    return {k: v / len(qids) for k, v in acc.items()}


def summary_line(m: Mapping[str, float]) -> str:
    """The one-line summary the CLI prints last."""
    return f"map@1={m['map@1']:.4f} map@5={m['map@5']:.4f} p@1={m['p@1']:.4f} recall@10={m['recall@10']:.4f}"


def rank_queries(matcher: object, queries: Sequence[tuple[str, str]], *, k: int = 10,
                 batch: int = 64, dates: bool = True, bands: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Run a Matcher over the queries and return {qid: ranked debunk ids}. ``dates``: a query that ends with
    an embedded post's signature line ("— Name (@handle) January 28, 2021") is matched as posted that day.
    ``bands``: filled with the band of each query's top hit."""
    out: dict[str, list[str]] = {}
    for i in range(0, len(queries), batch):
        chunk = queries[i : i + batch]
        when = [signature_date(t) if dates else None for _, t in chunk]
        hits = matcher.match_many([t for _, t in chunk], top_k=k, dates=when)  # type: ignore[attr-defined]
        for (qid, _), hs in zip(chunk, hits, strict=True):
            out[qid] = [h.id for h in hs]
            if bands is not None and hs:
                bands[qid] = hs[0].band
    return out


def band_stats(rankings: Mapping[str, Sequence[str]], bands: Mapping[str, str],
               qrels: Mapping[str, set[str]]) -> dict[str, float]:
    """How the `match` band (what may be shown as "already refuted") behaves: the share of right top hits that
    reach it (coverage) and the share of top hits in it that are right (precision), with their counts."""
    right = [q for q in qrels if rankings.get(q) and rankings[q][0] in qrels[q]]
    shown = [q for q in qrels if bands.get(q) == "match"]
    hit = sum(1 for q in shown if rankings[q][0] in qrels[q])
    return {"right": len(right), "shown": len(shown), "shown_right": hit,
            "coverage": hit / max(len(right), 1), "precision": hit / max(len(shown), 1)}
