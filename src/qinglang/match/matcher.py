"""The hybrid claim matcher: texts in, ranked debunks with calibrated scores, bands and explanations out.

Every debunk contributes rows (main claim, each variant, title); rows are indexed lexically (BM25) and
densely (multilingual embeddings). A text's candidates are the union of both top lists; the re-ranker
scores each (text, debunk) pair from features (see ``features``), and calibration maps that to a
probability. Updates are incremental and readers never block on them: new rows are appended and
published last, removed debunks disappear from results at once. Never reads the store or the network.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qinglang.errors import Invalid
from qinglang.match.embedder import Embedder, get_embedder
from qinglang.match.features import FEATURES, bigrams, build_matrix, char_ngrams, numbers, overlap
from qinglang.match.index import EXACT_LIMIT, ClaimIndex, NumpyIndex, UsearchIndex, make_index
from qinglang.match.lexical import LexicalIndex, LexScores, match_tokens, split_tags
from qinglang.match.reranker import Scorer, default_scorer
from qinglang.match.types import ClaimDoc, MatchHit
from qinglang.text.normalize import detect_lang, nfkc, to_simplified

DENSE_K = 30
# Unrelated claims of the kinds fact-checkers review (both languages), used only to complete the dense reference
# distribution when the registry has fewer than DENSE_K rows. Written by the team; no dataset rows.
BACKGROUND_CLAIMS: tuple[str, ...] = (
    "The city will close the old bridge for repairs next month", "A new species of frog was found in the rainforest",
    "The central bank kept interest rates unchanged", "Local schools will start the term a week later this year",
    "A famous actor is retiring from films", "The football club signed a new coach",
    "Scientists photographed a comet passing near Earth", "The museum reopened after renovation",
    "Fuel prices rose for the third week in a row", "The airline adds direct flights to three new cities",
    "A heatwave is expected across the region this weekend", "The government announced a new tax form",
    "Eating more vegetables is linked to better heart health", "A ship carrying grain docked at the port",
    "The mayor opened a new public library", "Police arrested two suspects in a burglary case",
    "市政府宣布明年将新建三座公园", "气象台预报本周末有大范围降雨", "某知名歌手将于下月举办演唱会",
    "高铁新线路今年年底开通运营", "研究人员在深海发现新的鱼类", "今年粮食产量再创新高",
    "多地中小学调整秋季开学时间", "博物馆推出夜间开放活动", "新能源汽车销量持续增长",
    "某大学公布新一年招生计划", "社区开展垃圾分类宣传活动", "股市今日小幅收涨",
    "地铁部分站点因施工临时封闭", "图书馆延长周末开放时间",
)
LEX_K = 30
FORMAT_VERSION = 1
_URLISH = re.compile(r"(?:https?://|www\.|pic\.twitter\.com/)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,40}")
_SPACES = re.compile(r"\s+")


def embedding_text(text: str) -> str:
    """What the embedder sees: NFKC, Simplified, URLs removed, camel-case tags split, case kept."""
    t = _HANDLE.sub(" ", split_tags(_URLISH.sub(" ", nfkc(text))))
    return _SPACES.sub(" ", to_simplified(t)).strip() or text.strip() or " "


@lru_cache(maxsize=131072)
def _cached_tokens(text: str) -> tuple[str, ...]:
    return tuple(match_tokens(text))


@dataclass(frozen=True)
class _View:
    """What the overlap features need from one text, computed once per text."""

    toks: tuple[str, ...]
    tok_set: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    grams: frozenset[str]
    nums: frozenset[str]


@lru_cache(maxsize=131072)
def _view(text: str) -> _View:
    toks = _cached_tokens(text)
    return _View(toks, frozenset(toks), bigrams(toks), frozenset(char_ngrams(text)), frozenset(numbers(text)))


@dataclass(frozen=True)
class Candidates:
    """The candidate debunks of one text with their feature rows (used by matching and training)."""

    ids: list[str]
    x: np.ndarray
    matched: list[str]
    notes: list[str]


def _rows_of(doc: ClaimDoc) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for kind, text in [("claim", doc.claim), *(("variant", v) for v in doc.variants), ("title", doc.title)]:
        t = text.strip()
        if t and t.lower() not in seen:
            seen.add(t.lower())
            out.append((kind, t))
    return out


def _validate(doc: ClaimDoc) -> None:
    if not isinstance(doc, ClaimDoc):
        raise Invalid("expected a ClaimDoc")
    if not doc.id:
        raise Invalid("a debunk needs an id", field="id")
    if not doc.claim.strip():
        raise Invalid(f"debunk {doc.id} has an empty claim", field="claim")


class Matcher:
    """Hybrid lexical + dense claim matcher with incremental updates, save/load and calibrated scores."""

    def __init__(
        self, docs: Iterable[ClaimDoc] = (), *, embedder: Embedder | None = None, scorer: Scorer | None = None
    ) -> None:
        self._embedder = embedder
        self._scorer = scorer
        self._write = threading.Lock()
        self._docs: dict[str, ClaimDoc] = {}
        self._doc_rows: dict[str, tuple[int, ...]] = {}
        self._row_doc: list[str | None] = []
        self._row_kind: list[str] = []
        self._row_text: list[str] = []
        self._row_lang: list[str] = []
        self._dense: ClaimIndex = NumpyIndex()
        self._lex = LexicalIndex()
        self._background: np.ndarray | None = None
        docs = list(docs)
        if docs:
            self.upsert(docs)

    # ---- plumbing -------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder()
        return self._embedder

    @property
    def scorer(self) -> Scorer:
        if self._scorer is None:
            self._scorer = default_scorer()
        return self._scorer

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    def get(self, doc_id: str) -> ClaimDoc | None:
        return self._docs.get(doc_id)

    # ---- updates --------------------------------------------------------------------------
    def upsert(self, docs: Iterable[ClaimDoc], *, vectors: np.ndarray | None = None) -> None:
        """Publish or correct debunks. Only the given debunks are (re-)indexed.

        ``vectors`` optionally supplies precomputed row embeddings in row order (benchmarks, imports).
        """
        docs = list(docs)
        for d in docs:
            _validate(d)
        latest = {d.id: d for d in docs}
        with self._write:
            self._remove_locked([i for i in latest if i in self._docs])
            start = len(self._row_doc)
            keys: list[int] = []
            texts: list[str] = []
            for d in latest.values():
                rows = _rows_of(d)
                rk = []
                for kind, text in rows:
                    key = len(self._row_doc)
                    lang = detect_lang(text)
                    self._row_doc.append(d.id)
                    self._row_kind.append(kind)
                    self._row_text.append(text)
                    self._row_lang.append(lang if lang != "und" else d.lang)
                    rk.append(key)
                    keys.append(key)
                    texts.append(text)
                self._doc_rows[d.id] = tuple(rk)
            if vectors is None:
                vecs = self.embedder.embed([embedding_text(t) for t in texts])
            else:
                vecs = np.asarray(vectors, dtype=np.float32)
                if vecs.shape != (len(texts), self._dense.dim):
                    raise Invalid(f"expected vectors of shape {(len(texts), self._dense.dim)}, got {vecs.shape}")
            karr = np.arange(start, start + len(keys), dtype=np.int64)
            toks = [list(_cached_tokens(t)) for t in texts]
            if len(self._lex) == 0 and len(self._dense) == 0:
                # Bulk build: one fresh index of the right kind, one BM25 main segment.
                dense = make_index(len(keys), self._dense.dim)
                dense.add(karr, vecs)
                self._dense = dense
                self._lex = LexicalIndex(karr.tolist(), toks)
            else:
                self._dense.add(karr, vecs)
                self._lex.add(karr.tolist(), toks)
            self._docs.update(latest)  # published last: readers only now see the new debunks
            if self._lex.delta_size > max(2000, len(self._lex) // 10):
                self._compact_locked()

    def remove(self, ids: Iterable[str]) -> None:
        """Withdraw debunks; unknown ids are ignored."""
        with self._write:
            self._remove_locked(list(ids))

    def _remove_locked(self, ids: list[str]) -> None:
        keys: list[int] = []
        for i in ids:
            if self._docs.pop(i, None) is None:
                continue
            rows = self._doc_rows.pop(i, ())
            for k in rows:
                self._row_doc[k] = None
            keys.extend(rows)
        if keys:
            self._dense.remove(np.asarray(keys, dtype=np.int64))
            self._lex.remove(keys)

    def compact(self) -> None:
        """Fold the lexical delta into a fresh main segment (and move to HNSW when the pool is large)."""
        with self._write:
            self._compact_locked()

    def _compact_locked(self) -> None:
        keys = [k for ks in self._doc_rows.values() for k in ks]
        keys.sort()
        self._lex = LexicalIndex(keys, [list(_cached_tokens(self._row_text[k])) for k in keys])
        if isinstance(self._dense, NumpyIndex) and len(self._dense) > EXACT_LIMIT:
            karr = self._dense.keys()
            dense = UsearchIndex(self._dense.dim)
            dense.add(karr, self._dense.get(karr))
            self._dense = dense

    # ---- matching -------------------------------------------------------------------------
    def match(self, text: str, *, top_k: int = 5, lang: str | None = None) -> list[MatchHit]:
        """Ranked debunks for ``text``, best first (at most ``top_k``)."""
        return self.match_many([text], top_k=top_k, langs=[lang])[0]

    def match_many(
        self, texts: Sequence[str], *, top_k: int = 5, langs: Sequence[str | None] | None = None
    ) -> list[list[MatchHit]]:
        """Like ``match`` for many texts, embedding them in batches."""
        if top_k <= 0:
            raise Invalid("top_k must be positive", field="top_k")
        cands = self.candidates_many(texts, langs=langs)
        out: list[list[MatchHit]] = []
        cal = self.scorer.calibration
        for c in cands:
            if not c.ids:
                out.append([])
                continue
            raw = self.scorer.raw(c.x)
            probs = cal.probability(raw)
            order = np.argsort(-raw, kind="stable")[:top_k]
            out.append(
                [
                    MatchHit(
                        id=c.ids[i], score=round(float(probs[i]), 4), band=cal.band(float(probs[i])),
                        explanation=c.notes[i], matched_text=c.matched[i],
                    )
                    for i in order
                ]
            )
        return out

    def candidates_many(
        self, texts: Sequence[str], *, langs: Sequence[str | None] | None = None, lexical: bool = True
    ) -> list[Candidates]:
        """Candidate debunks and features for each text (``lexical=False`` simulates cross-lingual input)."""
        if isinstance(texts, str):
            raise Invalid("texts must be a sequence of strings")
        if not texts:
            return []
        if not self._docs:
            return [Candidates([], np.zeros((0, len(FEATURES)), dtype=np.float32), [], []) for _ in texts]
        vecs = self.embedder.embed([embedding_text(t) for t in texts])
        dk, ds = self._dense.search(vecs, DENSE_K)
        langs = list(langs) if langs is not None else [None] * len(texts)
        return [
            self._candidates(t, vecs[i], dk[i], ds[i], langs[i] or detect_lang(t), lexical)
            for i, t in enumerate(texts)
        ]

    def _background_sims(self, qvec: np.ndarray) -> np.ndarray:
        """Similarities of the query to `BACKGROUND_CLAIMS`, highest first (embedded once per matcher)."""
        if self._background is None:
            self._background = self.embedder.embed(list(BACKGROUND_CLAIMS))
        return np.sort(self._background @ qvec.astype(np.float32))[::-1].astype(np.float32)

    def _candidates(
        self, text: str, qvec: np.ndarray, dkeys: np.ndarray, dsims: np.ndarray, qlang: str, lexical: bool
    ) -> Candidates:
        row_doc, row_kind, row_text, row_lang = self._row_doc, self._row_kind, self._row_text, self._row_lang
        docs, doc_rows = self._docs, self._doc_rows
        q_toks = list(_cached_tokens(text)) if lexical else []
        lex: LexScores | None = self._lex.scores(q_toks) if q_toks else None
        order: dict[str, None] = {}
        for k in dkeys.tolist():
            if 0 <= k < len(row_doc) and (d := row_doc[k]) is not None and d in docs:
                order[d] = None
        lex_top = lex.top(LEX_K) if lex is not None else []
        for k, _ in lex_top:
            if (d := row_doc[k]) is not None and d in docs:
                order[d] = None
        ids = [d for d in order if d in doc_rows]
        empty = Candidates([], np.zeros((0, len(FEATURES)), dtype=np.float32), [], [])
        if not ids:
            return empty
        all_keys = [k for d in ids for k in doc_rows[d]]
        sims = self._dense.get(np.asarray(all_keys, dtype=np.int64)) @ qvec
        bm = lex.lookup(all_keys) if lex is not None else np.zeros(len(all_keys), dtype=np.float32)
        n = len(ids)
        dense_best = np.zeros(n, dtype=np.float32)
        dense_title = np.full(n, np.nan, dtype=np.float32)
        bm_best = np.zeros(n, dtype=np.float32)
        bm_title = np.zeros(n, dtype=np.float32)
        lex_ok = np.zeros(n, dtype=bool)
        pair = np.zeros((n, 6), dtype=np.float32)
        d_len = np.zeros(n, dtype=np.float32)
        matched: list[str] = []
        notes: list[str] = []
        idf, weight = self._lex.idf, self._lex.weight
        qv = _view(text) if q_toks else _View((), frozenset(), frozenset(), frozenset(), frozenset())
        q_weight = sum(idf(t) for t in qv.tok_set)
        pos = 0
        for i, d in enumerate(ids):
            rows = doc_rows[d]
            best_dense, best_row, best_lex, lex_row = -1.0, rows[0], -1.0, -1
            for r_i, k in enumerate(rows):
                s = float(sims[pos + r_i])
                same = bool(q_toks) and (row_lang[k] == qlang or "und" in (row_lang[k], qlang))
                if row_kind[k] == "title":
                    dense_title[i] = s
                    if same:
                        bm_title[i] = bm[pos + r_i]
                    continue
                if s > best_dense:
                    best_dense, best_row = s, k
                if same:
                    lex_ok[i] = True
                    if bm[pos + r_i] > best_lex:
                        best_lex, lex_row = float(bm[pos + r_i]), k
            pos += len(rows)
            dense_best[i] = best_dense
            d_len[i] = len(_cached_tokens(docs[d].claim))
            shared: list[str] = []
            if lex_ok[i]:
                bm_best[i] = best_lex
                dv = _view(row_text[lex_row])
                cd, cq, bg = overlap(qv.tok_set, qv.bigrams, q_weight, dv.tok_set, dv.bigrams, weight(dv.tok_set), idf)
                pair[i] = (cd, cq, bg, len(dv.grams & qv.grams) / max(len(dv.grams), 1), len(dv.nums & qv.nums),
                           len(dv.nums - qv.nums))
                shared = sorted(qv.tok_set & dv.tok_set, key=lambda t: -idf(t))[:4]
                if best_lex > 0 and lex_row != best_row and cd > 0.6:
                    best_row = lex_row
            matched.append(row_text[best_row])
            note = f"{row_kind[best_row]} matched; semantic similarity {best_dense:.2f}"
            if shared:
                note += "; shared key terms: " + ", ".join(shared)
            elif not lex_ok[i]:
                note += "; cross-lingual (no shared words)"
            notes.append(note)
        dref = dsims[np.isfinite(dsims)]
        if len(dref) < DENSE_K:
            # A small registry gives too short a reference for the z-score features the re-ranker learned on
            # a large pool: complete it with the text's similarity to unrelated background claims, as the
            # tail of a large pool's top-k would.
            dref = np.concatenate([dref, self._background_sims(qvec)[: DENSE_K - len(dref)]])
        bref = np.asarray([s for _, s in lex_top], dtype=np.float32)
        if len(bref) < LEX_K:
            bref = np.concatenate([bref, np.zeros(LEX_K - len(bref), dtype=np.float32)])
        x = build_matrix(
            dense_best=dense_best, dense_title=dense_title, dense_ref=dref, bm25_best=bm_best, bm25_title=bm_title,
            bm25_ref=bref, lexical_ok=lex_ok, pair_lex=pair, q_len=len(q_toks), d_len=d_len,
        )
        return Candidates(ids, x, matched, notes)

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the matcher to directory ``path`` (compacting first); ``load`` needs no re-embedding."""
        path = Path(path)
        with self._write:
            self._compact_locked()
            path.mkdir(parents=True, exist_ok=True)
            with (path / "docs.jsonl").open("w", encoding="utf-8") as f:
                for d in self._docs.values():
                    rec = {"id": d.id, "claim": d.claim, "variants": list(d.variants), "title": d.title,
                           "lang": d.lang, "rows": [[k, self._row_kind[k], self._row_lang[k], self._row_text[k]]
                                                    for k in self._doc_rows[d.id]]}
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            kind = "usearch" if isinstance(self._dense, UsearchIndex) else "numpy"
            self._dense.save(path / ("dense.usearch" if kind == "usearch" else "dense.npz"))
            self._lex.save(path / "lexical")
            meta = {"format": FORMAT_VERSION, "dense": kind, "next_row": len(self._row_doc), "docs": len(self._docs)}
            (path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, *, embedder: Embedder | None = None, scorer: Scorer | None = None) -> Matcher:
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            raise Invalid(f"no saved matcher at {path}")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise Invalid(f"unsupported matcher format {meta.get('format')!r} at {path}")
        m = cls(embedder=embedder, scorer=scorer)
        n = int(meta["next_row"])
        m._row_doc = [None] * n
        m._row_kind = [""] * n
        m._row_text = [""] * n
        m._row_lang = [""] * n
        with (path / "docs.jsonl").open(encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                doc = ClaimDoc(rec["id"], rec["claim"], tuple(rec["variants"]), rec["title"], rec["lang"])
                m._docs[doc.id] = doc
                keys = []
                for k, kind, lang, text in rec["rows"]:
                    m._row_doc[k], m._row_kind[k], m._row_lang[k], m._row_text[k] = doc.id, kind, lang, text
                    keys.append(k)
                m._doc_rows[doc.id] = tuple(keys)
        m._dense = (UsearchIndex.load(path / "dense.usearch") if meta["dense"] == "usearch"
                    else NumpyIndex.load(path / "dense.npz"))
        m._lex = LexicalIndex.load(path / "lexical")
        return m
