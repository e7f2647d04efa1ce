"""The hybrid claim matcher: texts in, ranked debunks with calibrated scores, bands and explanations out.

Every debunk contributes rows (main claim, each variant, title); rows are indexed lexically (BM25) and
densely (multilingual embeddings). A text's candidates are the union of both top lists; the re-ranker
scores each (text, debunk) pair from features (see ``features``), and calibration maps that to a
probability. Updates are incremental and readers never block on them: new rows are appended and
published last, removed debunks disappear from results at once. Never reads the store or the network.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from sys import intern
from typing import cast

import numpy as np

from qinglang.arrays import concat_ranges, segment_ranks
from qinglang.errors import Invalid
from qinglang.hugepages import collapse_large_mappings
from qinglang.match.columns import Strings
from qinglang.match.dates import day_number, parse_date
from qinglang.match.embedder import Embedder, get_embedder
from qinglang.match.features import FEATURES, LEXICAL_IDX, PAIR_IDX, build_matrix, numbers
from qinglang.match.gathering import gather_candidates
from qinglang.match.index import EXACT_LIMIT, ClaimIndex, NumpyIndex, UsearchIndex, make_index
from qinglang.match.lexical import LexicalIndex, LexScores, lookup_many, match_tokens, split_tags, token_parts
from qinglang.match.reranker import Scorer, default_scorer
from qinglang.match.rowviews import IdfTable, RowViews, gram_codes
from qinglang.match.types import ClaimDoc, MatchHit
from qinglang.text.normalize import detect_lang, nfkc, normalize, to_simplified

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
# Candidates that get the (costly) pair features and the re-ranker, chosen by fused z-score of the cheap
# evidence. Measured on CT2022 Dev: see docs/match.md.
PAIR_K = 30
# A dated text also gets, as candidates, the DATE_K debunks most similar to it (dense) among those published
# within DATE_WINDOW days of it, either side; they skip the shortlist. Chosen on CT2022 Train+Dev: docs/match.md.
DATE_WINDOW = 15
DATE_K = 10
FORMAT_VERSION = 1
_URLISH = re.compile(r"(?:https?://|www\.|pic\.twitter\.com/)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,40}")
_SPACES = re.compile(r"\s+")


def embedding_text(text: str) -> str:
    """What the embedder sees: NFKC, Simplified, URLs removed, camel-case tags split, case kept."""
    t = _HANDLE.sub(" ", split_tags(_URLISH.sub(" ", nfkc(text))))
    return _SPACES.sub(" ", to_simplified(t)).strip() or text.strip() or " "


@lru_cache(maxsize=131072)
def _cached_parts(text: str) -> tuple[tuple[str, ...], int]:
    """`match_tokens` of the text, and how many of them are words (the rest: Chinese character bigrams)."""
    words, grams = token_parts(text)
    return (*words, *grams), len(words)


def _cached_tokens(text: str) -> tuple[str, ...]:
    return _cached_parts(text)[0]


def clear_text_caches() -> None:
    """Forget the per-text caches (tokens, overlap views, normalised forms), for a benchmark that measures texts
    this process has matched before as if they were new."""
    from qinglang.text.normalize import _normalize_cached

    _cached_parts.cache_clear()
    _view.cache_clear()
    _normalize_cached.cache_clear()


@dataclass(frozen=True)
class _View:
    """What the overlap features need from a text (rows have theirs in `RowViews`), computed once per text."""

    toks: tuple[str, ...]
    tok_set: frozenset[str]
    gram_codes: np.ndarray
    nums: frozenset[str]
    n_words: int  # ``toks`` begins with this many words; the rest are Chinese character bigrams

    @cached_property
    def terms(self) -> frozenset[str]:
        """The tokens an explanation may name as shared (worked out only for a text that gets one): its words, and
        the Chinese character bigrams inside one longer word (病毒 of 冠状病毒); not those across two words (防新 of
        预防/新冠), which explain nothing to a reader."""
        words = frozenset(self.toks[: self.n_words])
        if self.n_words == len(self.toks):  # no Chinese bigrams
            return words
        inside = {w[i : i + 2] for w in words if len(w) > 2 and not w.isascii() for i in range(len(w) - 1)}
        return words | inside.intersection(self.toks[self.n_words :])


@lru_cache(maxsize=16384)
def _view(text: str) -> _View:
    toks, n_words = _cached_parts(text)
    norm = normalize(text)
    return _View(toks, frozenset(toks), gram_codes(norm), frozenset(numbers(norm, normalized=True)), n_words)


def _key_terms(shared: frozenset[str], idf: Callable[[str], float], most: int = 4) -> list[str]:
    """The shared tokens an explanation names: the rarest first, leaving out a Chinese bigram inside another of
    them (板蓝 beside 板蓝根)."""
    kept = [t for t in shared if t.isascii() or not any(t != u and t in u for u in shared)]
    return sorted(kept, key=lambda t: (-idf(t), t))[:most]


# ``first``: the first row of the row's debunk while it is published (a debunk's rows have consecutive keys, so this
# names the debunk), else -1; ``span``: how many rows the debunk has. Candidates are found and grouped through these
# arrays: the Python objects of a large pool (row lists, tuples, strings) are not touched per candidate, which in a
# forked scan worker cost a copy-on-write page fault each.
_FACTS = np.dtype([("title", "?"), ("lang", "i2"), ("dlen", "f4"), ("day", "f4"), ("first", "i8"), ("span", "i4")])
_EMPTY_VIEW = _View((), frozenset(), np.zeros(0, dtype=np.int64), frozenset(), 0)
_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_SCORES = np.zeros(0, dtype=np.float64)
_DZ, _BZ = FEATURES.index("dense_z"), FEATURES.index("bm25_z")
_DENSE_BEST = FEATURES.index("dense_best")


def _group_best(values: np.ndarray, starts: np.ndarray, grp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per contiguous group: the maximum and the position of its first occurrence."""
    best = np.maximum.reduceat(values, starts)
    pos = np.where(values == best[grp], np.arange(len(values)), len(values))
    return best, np.minimum.reduceat(pos, starts)


def _shortlist(x: np.ndarray, seg: np.ndarray, k: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Indices (ascending) of each text's ``k`` candidates with the best fused z-score (dense counted twice without
    lexical), plus those flagged in ``keep``. ``seg``: the text of each candidate (ascending)."""
    dz = np.nan_to_num(x[:, _DZ], nan=-10.0)
    bz = x[:, _BZ]
    top = segment_ranks(dz + np.where(np.isnan(bz), dz, bz), seg) < k
    return np.flatnonzero(top | keep if keep is not None else top)


@dataclass(frozen=True)
class Candidates:
    """The candidate debunks of one text with their feature rows (used by matching and training)."""

    ids: list[str]
    x: np.ndarray
    explain: Callable[[int], tuple[str, str]] = lambda i: ("", "")
    """(matched row text, short explanation) of candidate ``i``; computed on demand, for shown hits only."""
    lang: str = ""  # the text's language, as matching took it


# Languages whose text gets at least the dense view's probability. The re-ranker learned its lexical features from
# English pairs (CT2022); Chinese paraphrases share far fewer character 3-grams and idf-weighted terms than English
# ones (several times fewer for the same pairs of the team's set in the two languages), so that evidence pulled
# right matches below the `match` band: 22 of 144 right top hits reached it, against 106 of 139 in English. The
# dense view (lexical features blanked, as the model was also taught for cross-lingual input) is language-neutral.
# The ranking stays the full model's; only probabilities and bands change (`benchmarks/eval_match.py`).
DENSE_FLOOR_LANGS = frozenset({"zh"})
# The `match` band ("already refuted", shown to the public) also needs this much semantic similarity between the
# text and the debunk's best row; below it a hit is at most `possible`. On a registry of a few dozen debunks the
# pool-relative evidence (BM25's idf, the z-scores) made a message sharing a word with a claim look like a match
# ("hello world" was "already refuted" by the demo registry's Nibiru debunk, at similarity 0.23). Chosen on CT2022
# Train+Dev, where few right hits in the band fall below it; measured by `benchmarks/eval_match.py` (ordinary SMS
# against the demo registry, and the band's coverage on every labelled set): docs/match.md, "The `match` band".
MATCH_MIN_SIMILARITY = 0.3


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
        # Per row (a debunk's claim, variants and title): its debunk's id and its text in `Strings` (a scan worker
        # forked from this process reads them without writing to the pages it shares), its kind and language
        # (a few shared str objects).
        self._row_doc = Strings()
        self._row_kind: list[str] = []
        self._row_text = Strings()
        self._row_lang: list[str] = []
        # Per-row facts the candidate features read as arrays: is it a title, its language code, and the
        # token length of its debunk's main claim. Grown by doubling and swapped, so readers never lock.
        self._facts = np.zeros(0, dtype=_FACTS)
        self._lang_codes: dict[str, int] = {"und": 0}
        self._dense: ClaimIndex = NumpyIndex()
        self._lex = LexicalIndex()
        self._views = RowViews()
        self._idf = IdfTable()
        self._background: np.ndarray | None = None
        self.dates_saved = True
        """False for a matcher loaded from a directory saved before debunks carried dates (see `set_published`)."""
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

    @property
    def delta_rows(self) -> int:
        """Rows added or removed since the lexical index was last compacted (each query scores the added ones that
        share a term with it, apart from the compacted index; `compact` folds them in)."""
        return self._lex.delta_size

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
        # What may be refused is checked before anything changes: dates, and the shape of given vectors.
        days = {i: day_number(d.published, field="published") for i, d in latest.items()}
        doc_rows = {i: _rows_of(d) for i, d in latest.items()}
        n_rows = sum(map(len, doc_rows.values()))
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.shape != (n_rows, self._dense.dim):
                raise Invalid(f"expected vectors of shape {(n_rows, self._dense.dim)}, got {vectors.shape}")
        with self._write:
            self._remove_locked([i for i in latest if i in self._docs])
            start = len(self._row_doc)
            keys: list[int] = []
            texts: list[str] = []
            owners: list[str] = []
            kinds: list[str] = []
            langs: list[str] = []
            # Rows are tokenised without the query cache: a large pool would fill it, and every later query would
            # then evict a row's entry (in a forked scan worker, a copy-on-write fault per object it releases).
            toks: list[list[str]] = []
            for d in latest.values():
                rows = doc_rows[d.id]
                row_toks = [match_tokens(text) for _, text in rows]
                d_len = len(row_toks[0])  # the main claim is the first row
                rk = []
                for (kind, text), row_tok in zip(rows, row_toks, strict=True):
                    key = start + len(keys)
                    lang = detect_lang(text)
                    lang = lang if lang != "und" else d.lang
                    self._set_facts(key, kind, lang, d_len, days[d.id], len(rows))
                    rk.append(key)
                    keys.append(key)
                    owners.append(d.id)
                    kinds.append(kind)
                    langs.append(lang)
                    texts.append(text)
                    toks.append(row_tok)
                self._doc_rows[d.id] = tuple(rk)
            # The row columns grow together (a row's key is its position in each).
            self._row_doc.put(keys, owners)
            self._row_text.put(keys, texts)
            self._row_kind.extend(kinds)
            self._row_lang.extend(langs)
            vecs = self.embedder.embed([embedding_text(t) for t in texts]) if vectors is None else vectors
            karr = np.arange(start, start + len(keys), dtype=np.int64)
            built = False
            if len(self._lex) == 0 and len(self._dense) == 0:
                # Bulk build: one fresh index of the right kind, one BM25 main segment.
                dense = make_index(len(keys), self._dense.dim)
                dense.add(karr, vecs)
                self._dense = dense
                self._lex = LexicalIndex(karr.tolist(), toks)
                built = True
            else:
                self._dense.add(karr, vecs)
                self._lex.add(karr.tolist(), toks)
            self._views.put(karr.tolist(), toks, [normalize(t) for t in texts])
            self._docs.update(latest)  # published last: readers only now see the new debunks
            self._publish_rows(self._doc_rows[i] for i in latest)
            if self._lex.delta_size > max(2000, len(self._lex) // 10):
                self._compact_locked()
            elif built:
                self._huge_pages()

    def _set_facts(self, key: int, kind: str, lang: str, d_len: int, day: float, span: int) -> None:
        """A row's facts; its ``first`` stays -1 until its debunk is published (`_publish_rows`)."""
        facts = self._facts
        if key >= len(facts):
            grown = np.zeros(max(1024, 2 * len(facts), key + 1), dtype=_FACTS)
            grown["day"] = np.nan
            grown["first"] = -1
            grown[: len(facts)] = facts
            self._facts = facts = grown
        code = self._lang_codes.setdefault(lang, len(self._lang_codes))
        facts[key] = (kind == "title", code, d_len, day, -1, span)

    def _publish_rows(self, doc_rows: Iterable[tuple[int, ...]]) -> None:
        first = self._facts["first"]
        for rows in doc_rows:
            if rows:
                if rows != tuple(range(rows[0], rows[0] + len(rows))):
                    raise Invalid("a debunk's rows must have consecutive keys")
                first[rows[0] : rows[0] + len(rows)] = rows[0]

    def set_published(self, published: dict[str, object]) -> None:
        """Set debunks' publication dates without re-indexing them (an index saved before dates were kept)."""
        with self._write:
            for doc_id, value in published.items():
                doc = self._docs.get(doc_id)
                if doc is None:
                    continue
                when = parse_date(value, field="published")
                self._docs[doc_id] = replace(doc, published=when)
                day = day_number(when)
                for k in self._doc_rows[doc_id]:
                    self._facts["day"][k] = day
            self.dates_saved = True

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
            self._facts["first"][list(rows)] = -1  # `_row_doc` still names the debunk of a withdrawn row
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
        self._lex = LexicalIndex(keys, [match_tokens(t or "") for t in self._row_text.many(keys)])
        if isinstance(self._dense, NumpyIndex) and len(self._dense) > EXACT_LIMIT:
            karr = self._dense.keys()
            dense = UsearchIndex(self._dense.dim)
            dense.add(karr, self._dense.get(karr))
            self._dense = dense
        self._huge_pages()

    def _huge_pages(self) -> None:
        """A large pool (the graph index's size), once built, compacted or loaded, goes into 2 MiB pages (see
        `hugepages`; `benchmarks/bench_hugepages.py`)."""
        from qinglang.settings import get_settings

        if isinstance(self._dense, UsearchIndex) and get_settings().huge_pages:
            collapse_large_mappings()

    # ---- matching -------------------------------------------------------------------------
    def warm(self) -> None:
        """Load what matching loads on first use (the embedding model, the re-ranker, the compiled loops) by
        matching a fixed text: before serving, and before forking workers, which then share them instead of each
        loading its own."""
        self.match("warm-up 预热", top_k=1)

    def match(self, text: str, *, top_k: int = 5, lang: str | None = None, date: object = None) -> list[MatchHit]:
        """Ranked debunks for ``text``, best first (at most ``top_k``). ``date``: when the text was posted
        (a date or ISO 8601 string), if known; see ``dates``."""
        return self.match_many([text], top_k=top_k, langs=[lang], dates=[date])[0]

    def set_lexical_head(self, postings: int) -> None:
        """Find lexical candidates through at most this many postings per term (`lexical.HEAD_POSTINGS`; 0: through
        all of them), until the next compaction. For comparisons (`benchmarks/eval_match.py --head-postings`)."""
        self._lex.set_head(postings)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' query vectors (what ``match_many(..., vectors=)`` takes; lets callers embed ahead)."""
        return self.embedder.embed([embedding_text(t) for t in texts])

    def match_many(
        self, texts: Sequence[str], *, top_k: int = 5, langs: Sequence[str | None] | None = None,
        vectors: np.ndarray | None = None, explain: bool = True, dates: Sequence[object] | None = None,
        band_only: bool = False,
    ) -> list[list[MatchHit]]:
        """Like ``match`` for many texts, embedding them in batches (or using ``vectors`` from ``embed``).
        ``explain=False``: hits without explanation and matched text (callers that keep only ids and scores).
        ``band_only``: only hits in the `match` band are wanted (the report pipeline's case): see
        `candidates_many`."""
        if top_k <= 0:
            raise Invalid("top_k must be positive", field="top_k")
        cands = self.candidates_many(texts, langs=langs, vectors=vectors, dates=dates, band_only=band_only)
        out: list[list[MatchHit]] = []
        cal = self.scorer.calibration
        # One re-ranker call for the whole batch (per-call overhead dominates at a few dozen rows).
        x_all = np.concatenate([c.x for c in cands]) if cands else np.zeros((0, len(FEATURES)), dtype=np.float32)
        all_raw = self.scorer.raw(x_all)
        all_probs = cal.probability(all_raw)
        lens = [len(c.ids) for c in cands]
        ends = np.cumsum(lens)
        floor = np.repeat(np.array([c.lang in DENSE_FLOOR_LANGS for c in cands], dtype=bool), lens)
        if floor.any():  # see DENSE_FLOOR_LANGS
            dense_view = x_all[floor]
            dense_view[:, LEXICAL_IDX] = np.nan
            all_probs[floor] = np.maximum(all_probs[floor], cal.probability(self.scorer.raw(dense_view)))
        weak = x_all[:, _DENSE_BEST] < MATCH_MIN_SIMILARITY  # see MATCH_MIN_SIMILARITY
        all_probs[weak] = np.minimum(all_probs[weak], cal.match_threshold - 1e-4)
        for c, end in zip(cands, ends.tolist(), strict=True):
            if not c.ids:
                out.append([])
                continue
            raw = all_raw[end - len(c.ids) : end]
            order = np.argsort(-raw, kind="stable")[:top_k]
            # Non-increasing down the ranking (the dense view can lift a lower-ranked hit above the one before it).
            probs = np.minimum.accumulate(all_probs[end - len(c.ids) : end][order])
            hits = []
            for i, p in zip(order.tolist(), probs.tolist(), strict=True):
                matched, note = c.explain(i) if explain else ("", "")
                hits.append(MatchHit(id=c.ids[i], score=round(p, 4), band=cal.band(p), explanation=note,
                                     matched_text=matched))
            out.append([h for h in hits if h.band == "match"] if band_only else hits)
        return out

    def candidates_many(
        self, texts: Sequence[str], *, langs: Sequence[str | None] | None = None, lexical: bool = True,
        vectors: np.ndarray | None = None, dates: Sequence[object] | None = None, band_only: bool = False,
    ) -> list[Candidates]:
        """Candidate debunks and features for each text (``lexical=False`` simulates cross-lingual input;
        ``dates``: when each text was posted, None where unknown). ``band_only``: none for a text whose nearest
        row is less similar than MATCH_MIN_SIMILARITY, since no hit of it could reach the `match` band (every
        debunk's best row is at most that similar; with the exact index of a registry under
        `index.EXACT_LIMIT` rows the nearest row is exact, with the graph index the nearest it finds)."""
        if isinstance(texts, str):
            raise Invalid("texts must be a sequence of strings")
        if not texts:
            return []
        if dates is not None and len(dates) != len(texts):
            raise Invalid("dates must have one entry per text", field="dates")
        days = [day_number(d) for d in dates] if dates is not None else [math.nan] * len(texts)
        if not self._docs:
            return [Candidates([], np.zeros((0, len(FEATURES)), dtype=np.float32)) for _ in texts]
        vecs = self.embed(texts) if vectors is None else np.asarray(vectors, dtype=np.float32)
        if vecs.shape != (len(texts), self._dense.dim):
            raise Invalid(f"expected vectors of shape {(len(texts), self._dense.dim)}, got {vecs.shape}")
        dk, ds = self._dense.search(vecs, DENSE_K)
        langs = list(langs) if langs is not None else [None] * len(texts)
        qlangs = [lg or detect_lang(t) for lg, t in zip(langs, texts, strict=True)]
        if not band_only:
            return self._candidates(list(texts), vecs, dk, ds, qlangs, lexical, days)
        near = np.flatnonzero(ds[:, 0] >= MATCH_MIN_SIMILARITY).tolist()
        out = [Candidates([], np.zeros((0, len(FEATURES)), dtype=np.float32)) for _ in texts]
        if near:
            for i, c in zip(near, self._candidates([texts[i] for i in near], vecs[near], dk[near], ds[near],
                                                   [qlangs[i] for i in near], lexical, [days[i] for i in near]),
                            strict=True):
                out[i] = c
        return out

    def _background_sims(self, qvec: np.ndarray) -> np.ndarray:
        """Similarities of the query to `BACKGROUND_CLAIMS`, highest first (embedded once per matcher)."""
        if self._background is None:
            self._background = self.embedder.embed(list(BACKGROUND_CLAIMS))
        return np.sort(self._background @ qvec.astype(np.float32))[::-1].astype(np.float32)

    def _date_window(self, qvec: np.ndarray, qday: float, first: np.ndarray) -> np.ndarray:
        """The DATE_K published debunks (as their first rows) most similar to the text among those published within
        DATE_WINDOW days of it (``first``: `_FACTS` ``first`` of every row)."""
        n_rows = min(len(self._row_doc), len(first))
        near = np.flatnonzero((np.abs(self._facts["day"][:n_rows] - qday) <= DATE_WINDOW) & (first[:n_rows] >= 0))
        if not len(near):
            return near
        owners = first[near[np.argsort(-(self._dense.get(near) @ qvec), kind="stable")]]
        _, at = np.unique(owners, return_index=True)
        return owners[np.sort(at)[:DATE_K]]

    @staticmethod
    def _gather(dkeys: np.ndarray, lexes: list[LexScores | None], windows: list[np.ndarray], first: np.ndarray,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The texts' candidate debunks as their first rows (dense top, lexical top, date window; each once) with
        their bounds per text, and the scores of each text's lexical top list (LEX_K best, ties to the lower row,
        as `LexScores.top`) with theirs (``first``: `_FACTS` ``first`` of every row). See `gathering`."""
        parts = [lex.scored() if lex is not None else (_NO_ROWS, _NO_SCORES) for lex in lexes]
        lex_ptr = np.concatenate(([0], np.cumsum([len(k) for k, _ in parts]))).astype(np.int64)
        win_ptr = np.concatenate(([0], np.cumsum([len(w) for w in windows]))).astype(np.int64)
        owners, cand_ptr, _, top_scores, top_ptr = gather_candidates(
            np.asarray(dkeys, dtype=np.int64), lex_ptr, np.concatenate([k for k, _ in parts]).astype(np.int64),
            np.concatenate([v for _, v in parts]), LEX_K, first, win_ptr,
            np.concatenate([np.asarray(w, dtype=np.int64) for w in windows]))
        return owners, cand_ptr, top_scores, top_ptr

    def _candidates(
        self, texts: list[str], qvecs: np.ndarray, dkeys: np.ndarray, dsims: np.ndarray, qlangs: list[str],
        lexical: bool, qdays: list[float],
    ) -> list[Candidates]:
        """Candidates and features of many texts, computed together: the candidates of all texts are one set of
        flat arrays (``cand_text``: the text of each), so the per-call cost of NumPy is paid once per batch."""
        row_kind, row_text, row_doc = self._row_kind, self._row_text, self._row_doc
        facts_all = self._facts  # one reference: an upsert may swap in a grown array meanwhile
        toks = [list(_cached_tokens(t)) if lexical else [] for t in texts]
        with_toks = [i for i, q in enumerate(toks) if q]
        lexes: list[LexScores | None] = [None] * len(texts)
        for i, lex in zip(with_toks, self._lex.scores_many([toks[i] for i in with_toks]), strict=True):
            lexes[i] = lex
        first = facts_all["first"]
        windows = [self._date_window(qvecs[i], qdays[i], first) if not math.isnan(qdays[i]) else _NO_ROWS
                   for i in range(len(texts))]
        # The candidate debunks as their first rows: dense top, lexical top, date window, in that order.
        owners, cand_ptr, top_scores, top_ptr = self._gather(dkeys, lexes, windows, first)
        n_cands = np.diff(cand_ptr)
        if not len(owners):
            return [Candidates([], np.zeros((0, len(FEATURES)), dtype=np.float32)) for _ in texts]
        cand_text = np.repeat(np.arange(len(texts)), n_cands)
        # Per-row scores, then per-debunk best rows, all vectorised (rows of one debunk are contiguous, and the
        # candidates of one text too).
        counts = facts_all["span"][owners].astype(np.int64)
        keys = concat_ranges(owners, counts)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        grp = np.repeat(np.arange(len(owners)), counts)
        row_of_text = cand_text[grp]
        sims = self._dense.similarities(qvecs, keys, row_of_text)
        text_rows = np.concatenate(([0], np.cumsum(np.bincount(row_of_text, minlength=len(texts))))).tolist()
        bm = lookup_many(lexes, keys, text_rows)
        facts = self._facts[keys]
        title = facts["title"]
        # Same script as the text: its language (or an undetermined one); every row if the text's is undetermined;
        # none if the text has no tokens (cross-lingual simulation, or nothing to match).
        codes = np.asarray([self._lang_codes.get(lg, -1) for lg in qlangs], dtype=np.int64)
        has_toks = np.asarray([bool(t) for t in toks])
        undetermined = np.asarray([lg == "und" for lg in qlangs])
        lang = facts["lang"]
        same = has_toks[row_of_text] & (undetermined[row_of_text] | (lang == codes[row_of_text]) | (lang == 0))
        body = ~title
        dense_best, best_row = _group_best(np.where(body, sims, -np.inf), starts, grp)
        dense_title = np.fmax.reduceat(np.where(title, sims, np.nan), starts).astype(np.float32)
        bm_title = np.maximum.reduceat(np.where(title & same, bm, 0.0), starts).astype(np.float32)
        lex_rows = body & same
        lex_ok = np.logical_or.reduceat(lex_rows, starts)
        best_lex, lex_row = _group_best(np.where(lex_rows, bm, -1.0), starts, grp)
        bm_best = np.where(lex_ok, best_lex, 0.0).astype(np.float32)
        d_len = facts["dlen"][starts]
        # Each text's reference scores for the z-score features, DENSE_K and LEX_K of them: its dense top list
        # (completed with background claims when the registry is smaller than DENSE_K, as the tail of a large
        # pool's list would be) and its BM25 top list (completed with zeros).
        drefs, brefs = [], []
        bref_all = top_scores.astype(np.float32)
        for i in range(len(texts)):
            dref = dsims[i][np.isfinite(dsims[i])]
            if len(dref) < DENSE_K:
                dref = np.concatenate([dref, self._background_sims(qvecs[i])[: DENSE_K - len(dref)]])
            drefs.append(dref)
            bref = bref_all[top_ptr[i] : top_ptr[i + 1]]
            brefs.append(np.concatenate([bref, np.zeros(max(LEX_K - len(bref), 0), dtype=np.float32)]))
        pair = np.zeros((len(owners), len(PAIR_IDX)), dtype=np.float32)
        # Days from the post to each candidate's publication (NaN where either date is unknown).
        gap = facts["day"][starts] - np.asarray(qdays, dtype=np.float64)[cand_text]
        x = build_matrix(
            seg=cand_text, dense_best=dense_best.astype(np.float32), dense_title=dense_title, dense_ref=np.stack(drefs),
            bm25_best=bm_best, bm25_title=bm_title, bm25_ref=np.stack(brefs), lexical_ok=lex_ok, pair_lex=pair,
            q_len=np.asarray([len(t) for t in toks], dtype=np.float64), d_len=d_len, day_gap=np.abs(gap),
        )
        # Only a shortlist by the cheap evidence (and the date window's candidates) gets the pair features and
        # goes to the re-ranker; the rank and z-score features above were computed over all candidates, as in
        # training.
        keep = (np.concatenate([np.isin(owners[cand_ptr[i] : cand_ptr[i + 1]], w) for i, w in enumerate(windows)])
                if any(len(w) for w in windows) else None)
        sel_arr = _shortlist(x, cand_text, PAIR_K, keep)
        views, lex_index, table = self._views, self._lex, self._idf
        idf = lex_index.idf
        qvs = [_view(t) if q else _EMPTY_VIEW for t, q in zip(texts, toks, strict=True)]
        shown = keys[best_row[sel_arr]]  # the row each candidate is explained by
        lexed = sel_arr[lex_ok[sel_arr]]
        if len(lexed):
            q_idf = [[idf(t) for t in qv.tok_set] for qv in qvs]
            q_weight = np.asarray([max(sum(v), 1e-6) for v in q_idf])
            q_norm = np.asarray([max(math.sqrt(sum(w * w for w in v)), 1e-6) for v in q_idf])
            l_keys = keys[lex_row[lexed]]
            # The debunks' other rows in the text's script (all its rows together, and its title alone).
            c_counts, c_starts = counts[lexed], starts[lexed]
            pos = concat_ranges(c_starts, c_counts)
            owner = np.repeat(np.arange(len(lexed)), c_counts)
            other = same[pos] & (keys[pos] != l_keys[owner])
            feats = views.overlaps(
                [views.query(qv.toks, qv.gram_codes, qv.nums) for qv in qvs], cand_text[lexed],
                lambda ids: table.values(ids, lex_index, views.terms),
                q_weight, q_norm, l_keys, keys[pos[other]], owner[other], title[pos[other]])
            pair[lexed] = feats
            # A body row that covers most of the debunk's terms explains the match better than the dense best.
            switch = (best_lex[lexed] > 0) & (l_keys != keys[best_row[lexed]]) & (feats[:, 0] > 0.6)
            where = np.searchsorted(sel_arr, lexed)
            shown[where[switch]] = l_keys[switch]
        x = x[sel_arr]
        ok = lex_ok[sel_arr]
        x[np.ix_(ok, PAIR_IDX)] = pair[sel_arr][ok]
        shown_rows, ok_list = shown.tolist(), ok.tolist()
        sims_sel, gaps_sel = dense_best[sel_arr].tolist(), gap[sel_arr].tolist()
        bounds = np.searchsorted(cand_text[sel_arr], np.arange(len(texts) + 1)).tolist()

        def explainer(qv: _View, lo: int) -> Callable[[int], tuple[str, str]]:
            def explain(j: int) -> tuple[str, str]:
                row = shown_rows[lo + j]
                note = f"{row_kind[row]} matched; semantic similarity {sims_sel[lo + j]:.2f}"
                if ok_list[lo + j]:
                    # The text's words (and bigrams within them) the row shares; any shared token only if none is.
                    row_set = views.token_set(row)
                    shared = _key_terms(qv.terms & row_set or qv.tok_set & row_set, idf)
                    if shared:
                        note += "; shared key terms: " + ", ".join(shared)
                else:
                    note += "; cross-lingual (no shared words)"
                g = gaps_sel[lo + j]
                if not math.isnan(g):
                    days, side = abs(int(g)), "after" if g > 0 else "before"
                    note += ("; published the day of the post" if days == 0 else
                             f"; published {days} day{'s' if days != 1 else ''} {side} the post")
                return row_text[row] or "", note

            return explain

        sel_ids = cast(list[str], row_doc.many(owners[sel_arr]))  # a withdrawn row keeps its debunk's id
        return [Candidates(sel_ids[bounds[i] : bounds[i + 1]], x[bounds[i] : bounds[i + 1]],
                           explainer(qvs[i], bounds[i]), qlangs[i])
                for i in range(len(texts))]

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
                           "lang": d.lang, "published": d.published.isoformat() if d.published else None,
                           "dlen": int(self._facts["dlen"][self._doc_rows[d.id][0]]),
                           "rows": [[k, self._row_kind[k], self._row_lang[k], self._row_text[k]]
                                    for k in self._doc_rows[d.id]]}
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            kind = "usearch" if isinstance(self._dense, UsearchIndex) else "numpy"
            self._dense.save(path / ("dense.usearch" if kind == "usearch" else "dense.npz"))
            self._lex.save(path / "lexical")
            self._views.save(path / "views.npz")
            meta = {"format": FORMAT_VERSION, "dense": kind, "next_row": len(self._row_doc), "docs": len(self._docs),
                    "dates": True}
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
        m.dates_saved = bool(meta.get("dates"))
        # The indexes load on threads while this one parses the documents: reading files, numpy and usearch release
        # the interpreter for much of their work.
        with ThreadPoolExecutor(3, thread_name_prefix="matcher-load") as pool:
            dense = (pool.submit(UsearchIndex.load, path / "dense.usearch") if meta["dense"] == "usearch"
                     else pool.submit(NumpyIndex.load, path / "dense.npz"))
            lex = pool.submit(LexicalIndex.load, path / "lexical")
            views = pool.submit(RowViews.load, path / "views.npz") if (path / "views.npz").is_file() else None
            m._load_docs(path, int(meta["next_row"]))
            m._dense, m._lex = dense.result(), lex.result()
            if views is not None:
                m._views = views.result()
        if views is None:  # saved before row views existed: encode the rows now
            live = [k for ks in m._doc_rows.values() for k in ks]
            texts = [t or "" for t in m._row_text.many(live)]
            m._views.put(live, [match_tokens(t) for t in texts], [normalize(t) for t in texts])
        m._huge_pages()
        return m

    def _load_docs(self, path: Path, n: int) -> None:
        """The documents and their rows from ``docs.jsonl`` (``n``: the next row key)."""
        row_doc: list[str | None] = [None] * n
        row_text: list[str | None] = [None] * n
        self._row_kind = [""] * n
        self._row_lang = [""] * n
        with (path / "docs.jsonl").open(encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                doc = ClaimDoc(rec["id"], rec["claim"], tuple(rec["variants"]), rec["title"], rec["lang"],
                               parse_date(rec.get("published")))
                self._docs[doc.id] = doc
                keys = []
                d_len = rec["dlen"] if "dlen" in rec else len(match_tokens(doc.claim))
                day = day_number(doc.published)
                for k, kind, lang, text in rec["rows"]:
                    # Kinds and languages interned: a few shared objects, not one per row from the JSON.
                    row_doc[k], row_text[k] = doc.id, text
                    self._row_kind[k], self._row_lang[k] = intern(kind), intern(lang)
                    self._set_facts(k, kind, lang, d_len, day, len(rec["rows"]))
                    keys.append(k)
                self._doc_rows[doc.id] = tuple(keys)
        self._row_doc.put(range(n), row_doc)
        self._row_text.put(range(n), row_text)
        del row_doc, row_text
        self._publish_rows(self._doc_rows.values())
