"""Lexical retrieval for claim matching: BM25 (bm25s) over a compacted main segment plus a small delta.

Publishing one debunk into a 100k pool must not rebuild the index, so new rows go into an in-memory
delta segment scored with the same BM25 formula and the same document frequencies, and removed rows are
tombstoned; ``rebuilt`` folds everything into a fresh main segment (on save, or when the delta grows).
Readers never lock: every update swaps in new objects, so a concurrent query sees the old or new state.
Never embeds, never touches the store.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from pathlib import Path

import bm25s
import numpy as np
import scipy.sparse as sp

from qinglang.arrays import sorted_distinct, sorted_lookup
from qinglang.match.gathering import best_first
from qinglang.match.lexsums import exact_scores, heads_rescored
from qinglang.text.normalize import normalize
from qinglang.text.segment import tokens as _segment

K1 = 1.2
B = 0.75
BATCH_POSTINGS = 4_000_000  # partial scores one batched BM25 product may hold (about 50 MB)
# A query finds its best rows through at most this many postings per term, the term's highest-scoring ones (its
# "head"); a query with a longer term then has the RESCORE rows that scored best through the heads scored again
# exactly, and its top list is taken from them (see `_Main`). Only pools where a term is in more rows are affected.
HEAD_POSTINGS = 1024
RESCORE = 256
HEAD_MIN_POSTINGS = 32_768

_EN_STOP = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being am do does did
    have has had this that these those it its it's i me my we our you your he him his she her they them their
    what which who whom whose when where why how not no so than too very can will just would should could may
    might must shall there here about into over after before up down out off again then once all any both each
    few more most other some such only own same s t don't rt via amp pic twitter com http https www""".split()
)
_ZH_STOP = frozenset(
    "的 了 是 在 和 与 及 或 就 都 也 而 着 吗 呢 吧 啊 呀 哦 这 那 这个 那个 有 被 把 让 给 我 你 他 她 它 们".split()
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_TWEET_TAIL = re.compile(r"pic\.twitter\.com/\S+", re.IGNORECASE)


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)")
_TAG = re.compile(r"(?<![\w&])[#@]([A-Za-z][A-Za-z0-9_]{2,60})")


def split_tags(text: str) -> str:
    """``#ScarfaceRemake`` → ``Scarface Remake``, ``@BernieSanders`` → ``Bernie Sanders`` (camel case split)."""
    return _TAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1).replace("_", " ")) + " ", text)


def _fold(word: str) -> str:
    """Light English plural folding (no stemmer: ``vaccines``→``vaccine``, ``stories``→``story``)."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ous")):
        return word[:-1]
    return word


def match_tokens(text: str) -> list[str]:
    """Content tokens for lexical matching: normalised, segmented, stop words removed, plurals folded."""
    words, grams = token_parts(text)
    return words + grams


def token_parts(text: str) -> tuple[list[str], list[str]]:
    """`match_tokens` in its two parts: the words (segmented), then the Chinese character bigrams."""
    toks = _segment(split_tags(_TWEET_TAIL.sub(" ", text)))
    words = [_fold(t) for t in toks if t not in _EN_STOP and t not in _ZH_STOP]
    # Chinese paraphrases segment differently (陈醋/醋, 冠状病毒/新冠病毒); character bigrams of each
    # Chinese run give BM25 and the overlap features a segmentation-independent view.
    grams = [run[i : i + 2] for run in _CJK.findall(normalize(text)) for i in range(len(run) - 1)
             if run[i : i + 2] not in _ZH_STOP]
    return words, grams


def _idf(df: float, n: float) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


Scored = tuple[np.ndarray, np.ndarray, "list[int] | None"]  # row positions, their scores, cut query's term ids
_NONE: Scored = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), None)


@dataclass(frozen=True)
class LexScores:
    """BM25 scores of one query against the live rows that share a term with it (main segment as arrays, delta as
    a dict); every other row scores 0. ``main``: set when the main segment's rows come in no particular order (a
    batch's sparse product; sorting them cost more than the product at 100k rows), ``main_pos`` then holds their
    positions in it, and `lookup` goes through its per-thread scratch array instead of a binary search."""

    main_keys: np.ndarray
    main_scores: np.ndarray
    delta: dict[int, float]
    main: _Main | None = None
    main_pos: np.ndarray | None = None
    terms: list[int] | None = None  # set when a term was cut to its head: rows off the list are scored on demand
    alive: np.ndarray | None = None  # with ``terms``: the main segment's live rows (None: all)

    def scored(self) -> tuple[np.ndarray, np.ndarray]:
        """Every row with a score, the delta's after the main segment's, and their scores as float64 (the delta's
        are Python floats, and a main segment's float32 score converts to one exactly)."""
        keys, scores = self.main_keys, self.main_scores.astype(np.float64)
        if self.delta:
            keys = np.concatenate([keys, np.fromiter(self.delta.keys(), dtype=np.int64, count=len(self.delta))])
            scores = np.concatenate([scores, np.fromiter(self.delta.values(), dtype=np.float64,
                                                         count=len(self.delta))])
        return keys.astype(np.int64, copy=False), scores

    def top(self, k: int) -> list[tuple[int, float]]:
        """The ``k`` best rows above zero, best first; ties by key (the same list whatever order the rows came in;
        `gathering.best_first`, as the matcher takes a batch's lists)."""
        if k <= 0:
            return []
        keys, scores = self.scored()
        out_keys, out_scores = np.empty(k, dtype=np.int64), np.empty(k, dtype=np.float64)
        n = best_first(keys, scores, k, out_keys, out_scores, 0)
        return list(zip(out_keys[:n].tolist(), out_scores[:n].tolist(), strict=True))

    def lookup(self, keys: Sequence[int]) -> np.ndarray:
        """The scores of these rows (0 for a row that shares no term with the query, or is removed)."""
        return lookup_many([self], np.asarray(keys, dtype=np.int64), [0, len(keys)])

    def _exact_rows(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For a list cut to the heads: the main segment's live positions of ``keys``, and which of ``keys`` they
        are."""
        assert self.main is not None
        pos, hit = sorted_lookup(self.main.keys, keys)
        pos = pos[hit]
        if self.alive is not None:
            live = self.alive[pos]
            pos, hit[hit] = pos[live], live
        return pos, hit

    def _main_lookup(self, keys: np.ndarray) -> np.ndarray:
        out = np.zeros(len(keys), dtype=np.float32)
        if self.main is None:
            pos, hit = sorted_lookup(self.main_keys, keys)
            out[hit] = self.main_scores[pos[hit]]
        elif self.main_pos is not None and len(self.main_pos):
            pos, hit = sorted_lookup(self.main.keys, keys)
            acc = self.main._scratch()
            acc[self.main_pos] = self.main_scores
            out[hit] = acc[pos[hit]]
            acc[self.main_pos] = 0.0
        return out


def lookup_many(lexes: Sequence[LexScores | None], keys: np.ndarray, bounds: Sequence[int]) -> np.ndarray:
    """`LexScores.lookup` of ``keys[bounds[i]:bounds[i + 1]]`` in ``lexes[i]`` for every i (0 where it is None):
    the exact scores that lists cut to the heads need are computed together, in one `_Main.exact` call per
    segment."""
    out = np.zeros(len(keys), dtype=np.float32)
    cut: dict[int, list[int]] = {}  # main segment (by id) -> texts whose lists were cut
    for i, lex in enumerate(lexes):
        lo, hi = bounds[i], bounds[i + 1]
        if lex is None or hi == lo:
            continue
        if lex.main is not None and lex.terms is not None:
            cut.setdefault(id(lex.main), []).append(i)
        else:
            out[lo:hi] = lex._main_lookup(keys[lo:hi])
    for texts in cut.values():
        found = [lexes[i]._exact_rows(keys[bounds[i] : bounds[i + 1]]) for i in texts]  # type: ignore[union-attr]
        main = lexes[texts[0]].main  # type: ignore[union-attr]
        assert main is not None
        scores = main.exact([lexes[i].terms for i in texts], [pos for pos, _ in found])  # type: ignore[misc,union-attr]
        for i, (_, hit), sc in zip(texts, found, scores, strict=True):
            out[bounds[i] : bounds[i + 1]][hit] = sc
    for i, lex in enumerate(lexes):
        if lex is not None and lex.delta:
            delta = lex.delta
            for j, key in enumerate(keys[bounds[i] : bounds[i + 1]].tolist(), start=bounds[i]):
                if key in delta:
                    out[j] = delta[key]
    return out


def _distinct_terms(queries: Sequence[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The queries' term ids as `lexsums` takes them: per query its distinct ids ascending (``q_terms[q_ptr[j]:
    q_ptr[j + 1]]``) and how often each occurs (float32)."""
    distinct = [np.unique(np.asarray(q, dtype=np.int64), return_counts=True) for q in queries]
    q_ptr = np.concatenate(([0], np.cumsum([len(t) for t, _ in distinct]))).astype(np.int64)
    q_terms = np.concatenate([t for t, _ in distinct]) if distinct else np.zeros(0, dtype=np.int64)
    q_counts = np.concatenate([c for _, c in distinct]).astype(np.float32) if distinct else np.zeros(0, np.float32)
    return q_ptr, q_terms, q_counts


class _Main:
    """An immutable bm25s segment with its row keys (ascending) and document frequencies.

    On a large pool a common term is in tens of thousands of rows, and summing every posting of every query term
    was most of the cost of matching (1M synthetic rows: 158k postings per tweet, 114k median). So a query's best
    rows are found through each term's head, its HEAD_POSTINGS highest-scoring postings (the rows where the term
    weighs most); if a term of the query was cut, the RESCORE rows that scored best that way are scored again
    exactly (over all their terms, through a row-major copy of the score matrix), and only they form its list.
    Every score handed out is exact; what can differ from summing everything is which rows make the list: a row
    that shares only common terms with the query, none of them among its heaviest, can be missed (the dense
    retriever still finds it by meaning). A query none of whose terms was cut is scored as before.
    """

    def __init__(self, keys: np.ndarray, token_lists: Sequence[list[str]]) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        docs = [token_lists[i] or [""] for i in order]
        self.lengths = np.array([len(d) for d in docs], dtype=np.float32)
        self.n = len(docs)
        self.avgdl = float(self.lengths.mean()) if self.n else 1.0
        self.bm25: bm25s.BM25 | None = None
        self.df: dict[str, int] = {}
        self._term_matrix: sp.csr_matrix | None = None
        self.head = HEAD_POSTINGS
        self._head_matrix: sp.csr_matrix | None = None
        self._cut: np.ndarray | None = None  # per term: its postings were cut to the head
        self._row_matrix: sp.csr_matrix | None = None
        self._local = threading.local()
        if self.n:
            self.bm25 = bm25s.BM25(k1=K1, b=B)
            self.bm25.index(docs, show_progress=False)
            indptr = np.asarray(self.bm25.scores["indptr"])
            counts = np.diff(indptr)
            self.df = {tok: int(counts[i]) for tok, i in self.bm25.vocab_dict.items() if tok}
            self.prepare()

    @cached_property
    def total_length(self) -> float:
        """The rows' summed length, which the delta's BM25 takes per query (summed once: a segment never changes)."""
        return float(self.lengths.sum())

    def prepare(self) -> None:
        """Build the heads, and the row-major scores when a term is cut, now rather than on the first query (which
        would pay seconds at 1M rows, in each forked worker that had not inherited them)."""
        if self.bm25 is not None:
            self._heads()
            assert self._cut is not None
            if self._cut.any():
                self._rows()

    def scores(self, q: list[str]) -> Scored:
        """(positions of the rows that contain a query term, ascending; their BM25 scores; the query's term ids if
        one was cut to its head, else None: see the class)."""
        if self.bm25 is None:
            return _NONE
        return self._scores_of(self.bm25.get_tokens_ids(q))

    def _scores_of(self, ids: list[int]) -> Scored:
        """`scores` of a query given as its terms' ids in the bm25s vocabulary."""
        assert self.bm25 is not None
        if not ids:
            return _NONE
        if self.bm25.nonoccurrence_array is None and self._is_cut(ids):
            return self._through_heads([ids])[0]
        if self._postings(ids) * 4 > self.n or self.bm25.nonoccurrence_array is not None:
            dense = np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)
            pos = np.flatnonzero(dense)
            return pos.astype(np.int64), dense[pos], None
        return (*self._summed(ids, self._terms()), None)

    def _postings(self, ids: list[int]) -> int:
        """How many postings the terms ``ids`` have in all (a repeated term counts again)."""
        indptr = self._terms().indptr
        return int((indptr[np.asarray(ids) + 1] - indptr[ids]).sum())

    def _summed(self, ids: list[int], mat: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """The query's postings in ``mat`` summed per row: (positions ascending, sums)."""
        indptr, indices, data = mat.indptr, mat.indices, mat.data
        spans = [(int(indptr[i]), int(indptr[i + 1])) for i in ids]
        # Only the posting lists of the query's terms, summed in a per-thread scratch array that is zeroed again
        # where touched: no sort of the postings by row and no array of the pool's size allocated per query.
        acc = self._scratch()
        for s, e in spans:
            acc[indices[s:e]] += data[s:e]  # one term's postings name each row once
        pos = sorted_distinct(np.concatenate([indices[s:e] for s, e in spans])).astype(np.int64)
        out = acc[pos]
        acc[pos] = 0.0
        return pos, out

    def scores_many(self, qs: Sequence[list[str]]) -> list[Scored]:
        """`scores` of many queries, each one's positions in no particular order: their postings summed by one
        sparse product per group of queries (the per-query loop over terms cost more than the additions on a
        small pool); the queries with a term cut to its head go through the heads together (`_through_heads`). A
        group's postings are bounded by BATCH_POSTINGS, so a batch of queries with common terms on a large pool
        never holds more than that many partial scores at once. Scores are the same sums (in another order: float32
        may differ in the last bit)."""
        if self.bm25 is None:
            return [_NONE for _ in qs]
        ids = [self.bm25.get_tokens_ids(q) for q in qs]
        if self.bm25.nonoccurrence_array is not None:  # BM25 variants that score absent terms too
            return [self._scores_of(i) for i in ids]
        cut = [bool(i) and self._is_cut(i) for i in ids]
        out: list[Scored] = [_NONE] * len(qs)
        # The queries none of whose terms was cut are summed over every posting, a sparse product per group.
        mat = self._terms()
        postings = np.diff(mat.indptr)  # rows per term
        group: list[int] = []
        budget = 0
        todo = [k for k in range(len(qs)) if ids[k] and not cut[k]]
        for k in [*todo, None]:
            size = int(postings[ids[k]].sum()) if k is not None else 0
            if k is None or (group and budget + size > BATCH_POSTINGS):
                if len(group) == 1:  # one query: its own postings summed cost less than building two matrices
                    out[group[0]] = self._scores_of(ids[group[0]])
                elif group:
                    self._product(group, ids, out, mat)
                group, budget = [], 0
            if k is not None:
                group.append(k)
                budget += size
        again = [k for k in range(len(qs)) if cut[k]]
        for k, scored in zip(again, self._through_heads([ids[k] for k in again]), strict=True):
            out[k] = scored
        return out

    def _product(self, group: list[int], ids: list[list[int]], out: list[Scored], mat: sp.csr_matrix) -> None:
        lens = [len(ids[k]) for k in group]
        q = sp.csr_matrix((np.ones(sum(lens), dtype=np.float32),
                           (np.repeat(np.arange(len(group)), lens), np.fromiter(chain.from_iterable(
                               ids[k] for k in group), dtype=np.int64, count=sum(lens)))),
                          shape=(len(group), mat.shape[0]))  # a term repeated in the query counts again
        prod = (q @ mat).tocsr()  # each row's columns unique, in no particular order (see `LexScores`)
        for j, k in enumerate(group):
            lo, hi = prod.indptr[j], prod.indptr[j + 1]
            out[k] = prod.indices[lo:hi].astype(np.int64), prod.data[lo:hi].astype(np.float32, copy=False), None

    def _is_cut(self, ids: list[int]) -> bool:
        """Whether the query goes through the heads: one of its terms was cut, and its terms' postings number more
        than HEAD_MIN_POSTINGS in all (below that, summing them all costs less than scoring RESCORE rows again)."""
        self._heads()
        assert self._cut is not None
        return bool(self._cut[ids].any()) and self._postings(ids) > HEAD_MIN_POSTINGS

    def _heads(self) -> sp.csr_matrix:
        """The score matrix with each term's postings cut to its ``head`` (HEAD_POSTINGS) highest scores (ties: lower
        row first), still ascending by row within a term; the score matrix itself when no term is that common."""
        heads = self._head_matrix
        if heads is None:
            terms = self._terms()
            post = np.diff(terms.indptr)
            head = self.head
            cut = post > head
            heads = terms
            if cut.any():
                term_of = np.repeat(np.arange(len(post)), post)
                order = np.lexsort((-terms.data, term_of))  # by term, best first within each
                keep = np.sort(order[np.arange(len(order)) - terms.indptr[term_of] < head])
                indptr = np.concatenate(([0], np.cumsum(np.minimum(post, head))))
                heads = sp.csr_matrix((terms.data[keep], terms.indices[keep], indptr), shape=terms.shape)
            self._cut = cut
            self._head_matrix = heads
        return heads

    def _rows(self) -> sp.csc_matrix:
        """The score matrix column-major: each row's postings together (for `exact`)."""
        fwd = self._row_matrix
        if fwd is None:
            fwd = self._row_matrix = self._terms().tocsc()
        return fwd

    def _through_heads(self, queries: list[list[int]]) -> list[Scored]:
        """Each query's RESCORE best rows by its sums over the heads (ties: lower row first), scored exactly (see
        `lexsums.heads_rescored`), as (positions ascending, scores, the query's term ids)."""
        if not queries:
            return []
        q_ptr, q_terms, q_counts = _distinct_terms(queries)
        heads, rows = self._heads(), self._rows()
        pos, scores, bounds = heads_rescored(
            q_ptr, q_terms, q_counts, heads.indptr, heads.indices, heads.data, rows.indptr, rows.indices, rows.data,
            RESCORE, self._scratch(), self._term_weights())
        b = bounds.tolist()
        return [(pos[b[j] : b[j + 1]], scores[b[j] : b[j + 1]], q) for j, q in enumerate(queries)]

    def exact(self, queries: Sequence[list[int]], rows: Sequence[np.ndarray]) -> list[np.ndarray]:
        """BM25 scores of the rows at positions ``rows[j]`` for query ``j`` (its terms' ids; a repeated term counts
        again), from each row's own postings: a row-major copy of the score matrix, made on first use
        (`lexsums.exact_scores`)."""
        if not len(rows):
            return []
        fwd = self._rows()
        q_ptr, q_terms, q_counts = _distinct_terms(queries)
        rows_ptr = np.concatenate(([0], np.cumsum([len(r) for r in rows]))).astype(np.int64)
        flat = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
        scores = exact_scores(q_ptr, q_terms, q_counts, rows_ptr, flat, fwd.indptr, fwd.indices, fwd.data,
                              self._term_weights())
        b = rows_ptr.tolist()
        return [scores[b[j] : b[j + 1]] for j in range(len(rows))]

    def _terms(self) -> sp.csr_matrix:
        """The BM25 score matrix, a row per term (bm25s keeps it that way: its postings are the rows)."""
        terms = self._term_matrix
        if terms is None:
            assert self.bm25 is not None
            sc = self.bm25.scores
            terms = self._term_matrix = sp.csr_matrix(
                (np.asarray(sc["data"], dtype=np.float32), np.asarray(sc["indices"]), np.asarray(sc["indptr"])),
                shape=(len(sc["indptr"]) - 1, self.n))
        return terms

    def _term_weights(self) -> np.ndarray:
        """A per-thread array of zeros, one per term (see `exact`)."""
        weight = getattr(self._local, "weight", None)
        if weight is None:
            weight = self._local.weight = np.zeros(self._terms().shape[0], dtype=np.float32)
        return weight

    def _scratch(self) -> np.ndarray:
        acc = getattr(self._local, "acc", None)
        if acc is None:
            acc = self._local.acc = np.zeros(self.n, dtype=np.float32)
        return acc


@dataclass(frozen=True)
class _Delta:
    """The delta segment: each row's term counts and length, each term's rows, their document frequencies and the
    total length. Replaced whole by every change, so that a query reads one consistent state without a lock; the
    postings let a query score only the rows that share a term with it, where it scored every row of the delta (a
    process that catches up debunk by debunk, `store_source`, keeps a delta between compactions)."""

    tf: dict[int, Counter[str]]
    df: Counter[str]
    post: dict[str, frozenset[int]]
    lens: dict[int, int]
    total: int

    def changed(self, drop: Sequence[int] = (), keys: Sequence[int] = (),
                token_lists: Sequence[list[str]] = ()) -> _Delta:
        """A new state without the rows ``drop``, then with ``keys`` holding ``token_lists``."""
        tf_all, df, post, lens = dict(self.tf), Counter(self.df), dict(self.post), dict(self.lens)
        total = self.total

        def take_out(k: int) -> None:
            nonlocal total
            old = tf_all.pop(k, None)
            if old is None:
                return
            df.subtract(old.keys())
            for t in old:
                rest = post[t] - {k}
                if rest:
                    post[t] = rest
                else:
                    del post[t]
            total -= lens.pop(k)

        for k in drop:
            take_out(k)
        for key, toks in zip(keys, token_lists, strict=True):
            take_out(key)  # a key given twice: the last wins
            tf = Counter(toks)
            tf_all[key] = tf
            df.update(tf.keys())
            for t in tf:
                post[t] = post.get(t, frozenset()) | {key}
            lens[key] = n = sum(tf.values())
            total += n
        return _Delta(tf_all, +df, post, lens, total)

    @cached_property
    def _rows(self) -> tuple[dict[int, int], np.ndarray, np.ndarray]:
        """The rows in a fixed order: each key's position, the keys, and their lengths (float64)."""
        keys = list(self.tf)
        return ({k: i for i, k in enumerate(keys)}, np.asarray(keys, dtype=np.int64),
                np.asarray([self.lens[k] for k in keys], dtype=np.float64))

    @cached_property
    def _term_rows(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {}

    def _holding(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The positions of the rows that hold ``term`` and its count in each (float64), kept for the next query
        (a state never changes, so neither do they)."""
        got = self._term_rows.get(term)
        if got is None:
            at = self._rows[0]
            rows = self.post[term]
            got = self._term_rows[term] = (
                np.fromiter((at[k] for k in rows), dtype=np.int64, count=len(rows)),
                np.fromiter((self.tf[k][term] for k in rows), dtype=np.float64, count=len(rows)))
        return got

    def scores(self, q: list[str], idf: dict[str, float], avgdl: float) -> dict[int, float]:
        """BM25 of the rows that share a term with the query ``q`` (its tokens in order, a repeated one counting
        again), by row key. Each row's terms are added in the query's order, in float64 with the arithmetic of
        one row's loop over the query (the same floats: `tests/match/test_lexical.py`), a term's rows at once."""
        _, keys, lens = self._rows
        acc = np.zeros(len(keys), dtype=np.float64)
        hit = np.zeros(len(keys), dtype=bool)
        for t in q:
            if t in self.post:
                pos, f = self._holding(t)
                acc[pos] += idf[t] * f * (K1 + 1) / (f + K1 * (1 - B + B * lens[pos] / avgdl))
                hit[pos] = True
        touched = np.flatnonzero(hit)
        return dict(zip(keys[touched].tolist(), acc[touched].tolist(), strict=True))


_NO_DELTA = _Delta({}, Counter(), {}, {}, 0)


class LexicalIndex:
    """BM25 over rows keyed by integers, with incremental add/remove."""

    def __init__(self, keys: Sequence[int] = (), token_lists: Sequence[list[str]] = ()) -> None:
        self._main = _Main(np.asarray(list(keys), dtype=np.int64), list(token_lists))
        self._alive = np.ones(self._main.n, dtype=bool)
        self._dead = 0
        self._d = _NO_DELTA
        self._idf_cache: dict[object, float] = {}
        self.version = 0  # changes whenever document frequencies (and so idf values) may have changed

    @property
    def _delta(self) -> dict[int, Counter[str]]:
        return self._d.tf

    @property
    def _delta_df(self) -> Counter[str]:
        return self._d.df

    def __len__(self) -> int:
        return self._main.n - self._dead + len(self._delta)

    @property
    def delta_size(self) -> int:
        return len(self._delta) + self._dead

    def add(self, keys: Sequence[int], token_lists: Sequence[list[str]]) -> None:
        self.remove(keys)
        self._d = self._d.changed(keys=[int(k) for k in keys], token_lists=token_lists)
        self._idf_cache = {}
        self.version += 1

    def remove(self, keys: Sequence[int]) -> None:
        keys = [int(k) for k in keys]
        if any(k in self._delta for k in keys):
            self._d = self._d.changed(drop=keys)
            self._idf_cache = {}
            self.version += 1
        mk = self._main.keys
        if len(mk):
            pos = np.searchsorted(mk, keys)
            hit = [int(p) for p, k in zip(pos, keys, strict=True) if p < len(mk) and mk[p] == k]
            if hit:
                alive = self._alive.copy()
                alive[hit] = False
                self._dead = int((~alive).sum())
                self._alive = alive

    def scores(self, q: list[str]) -> LexScores:
        return self._finish(q, *self._main.scores(q))

    def scores_many(self, qs: Sequence[list[str]]) -> list[LexScores]:
        """`scores` for each query, the main segment's computed together (`_Main.scores_many`; its rows in no
        particular order)."""
        return [self._finish(q, pos, ms, cut, ordered=False)
                for q, (pos, ms, cut) in zip(qs, self._main.scores_many(qs), strict=True)]

    def _finish(self, q: list[str], pos: np.ndarray, ms: np.ndarray, cut: list[int] | None = None, *,
                ordered: bool = True) -> LexScores:
        """The main segment's scores less the removed rows, with the delta segment's (``ordered``: ``pos``
        ascending; ``cut``: the query's term ids when its list came through the heads, see `_Main`)."""
        main, alive, d = self._main, self._alive, self._d
        if len(pos) and self._dead:
            live = alive[pos]
            pos, ms = pos[live], ms[live]
        ds: dict[int, float] = {}
        if d.tf and q:
            n = main.n + len(d.tf)
            idf = {t: _idf(main.df.get(t, 0) + d.df.get(t, 0), n) for t in set(q)}
            # Only the rows sharing a term score above 0 (a row absent from `ds` scores 0).
            ds = d.scores(q, idf, (main.total_length + d.total) / max(n, 1))
        if cut is not None:
            return LexScores(main.keys[pos], ms, ds, main, terms=cut, alive=alive if self._dead else None)
        if ordered:
            return LexScores(main.keys[pos], ms, ds)
        return LexScores(main.keys[pos], ms, ds, main, pos)

    def idf(self, token: str) -> float:
        cache = self._idf_cache
        v = cache.get(token)
        if v is None:
            n = self._main.n + len(self._delta)
            v = cache[token] = _idf(self._main.df.get(token, 0) + self._delta_df.get(token, 0), max(n, 1))
            if len(cache) > 500_000:
                self._idf_cache = {}
        return v

    def save(self, path: Path) -> None:
        """Write the main segment; callers rebuild first so the delta is empty."""
        if self._delta or self._dead:
            raise ValueError("rebuild the lexical index before saving it")
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "keys.npy", self._main.keys)
        np.save(path / "lengths.npy", self._main.lengths)
        if self._main.bm25 is not None:
            self._main.bm25.save(str(path / "bm25"), show_progress=False)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex:
        idx = cls()
        main = _Main(np.zeros(0, dtype=np.int64), [])
        main.keys = np.load(path / "keys.npy")
        main.lengths = np.load(path / "lengths.npy")
        main.n = len(main.keys)
        main.avgdl = float(main.lengths.mean()) if main.n else 1.0
        if (path / "bm25").is_dir():
            main.bm25 = bm25s.BM25.load(str(path / "bm25"), load_corpus=False)
            counts = np.diff(np.asarray(main.bm25.scores["indptr"]))
            main.df = {tok: int(counts[i]) for tok, i in main.bm25.vocab_dict.items() if tok}
            main.prepare()
        idx._main = main
        idx._idf_cache = {}
        idx._alive = np.ones(main.n, dtype=bool)
        return idx

    def set_head(self, postings: int) -> None:
        """Cut terms to this many postings from now on (0: never cut; see `_Main`). For comparisons."""
        main = self._main
        main.head = postings if postings > 0 else np.iinfo(np.int64).max
        main._head_matrix = None
        main.prepare()

    def live_keys(self) -> np.ndarray:
        main_live = self._main.keys[self._alive]
        return np.concatenate([main_live, np.asarray(sorted(self._delta), dtype=np.int64)])
