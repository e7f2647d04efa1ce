"""The vector index behind claim matching: one small ABC, an exact numpy implementation and a usearch HNSW one.

Keys are non-negative integers chosen by the caller (the matcher's row keys); vectors are L2-normalised
float32, so similarity is the dot product. Public methods validate and then call the abstract ``_…``
methods, so every implementation behaves the same (see tests/match/test_index_contract.py).
Never embeds text and never reads the store: vectors in, keys and similarities out.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import final

import numpy as np

from qinglang.arrays import top_floor
from qinglang.compiled import kernel, vector_kernel
from qinglang.errors import Invalid

EXACT_LIMIT = 50_000  # above this many vectors the HNSW index is faster than a full scan
CONNECTIVITY = 16
EXPANSION_ADD = 64  # 128 built 4x slower at 1M for +3 points of recall@1 on synthetic vectors
EXPANSION_SEARCH = 96


class ClaimIndex(ABC):
    """A mutable set of (key, vector) pairs with top-k cosine search."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    @final
    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors; a key already present is replaced."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(keys) != vectors.shape[0]:
            raise Invalid(f"expected {len(keys)} vectors of dimension {self.dim}, got {vectors.shape}")
        if len(keys) and keys.min() < 0:
            raise Invalid("keys must be non-negative")
        if len(np.unique(keys)) != len(keys):
            raise Invalid("duplicate keys in one add")
        if len(keys):
            self._add(keys, vectors)

    @final
    def remove(self, keys: np.ndarray) -> None:
        """Delete keys; unknown keys are ignored."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if len(keys):
            self._remove(keys)

    @final
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` keys and similarities per query row, best first; missing slots are key -1, sim -inf."""
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.shape[1] != self.dim:
            raise Invalid(f"query dimension {queries.shape[1]} != {self.dim}")
        if k <= 0:
            raise Invalid("k must be positive", field="k")
        return self._search(queries, k)

    @final
    def get(self, keys: np.ndarray) -> np.ndarray:
        """Stored vectors for ``keys`` (float32); rows of zeros for unknown keys."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if not len(keys):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._get(keys)

    @final
    def similarities(self, queries: np.ndarray, keys: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """For each key, the similarity of its stored vector with the query row ``queries[owner[i]]`` (float32;
        0 for unknown keys): the dense evidence of many texts' candidates in one call."""
        queries = np.asarray(queries, dtype=np.float32)
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        owner = np.asarray(owner, dtype=np.int64).reshape(-1)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise Invalid(f"expected queries of dimension {self.dim}, got {queries.shape}")
        if len(owner) != len(keys) or (len(owner) and (owner.min() < 0 or owner.max() >= len(queries))):
            raise Invalid("owner must give a query row for every key")
        if not len(keys):
            return np.zeros(0, dtype=np.float32)
        return self._similarities(queries, keys, owner)

    def _similarities(self, queries: np.ndarray, keys: np.ndarray, owner: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self._get(keys), queries[owner]).astype(np.float32)

    @abstractmethod
    def _add(self, keys: np.ndarray, vectors: np.ndarray) -> None: ...

    @abstractmethod
    def _remove(self, keys: np.ndarray) -> None: ...

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def _get(self, keys: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def keys(self) -> np.ndarray: ...

    @abstractmethod
    def save(self, path: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> ClaimIndex: ...

    @abstractmethod
    def __len__(self) -> int: ...


class NumpyIndex(ClaimIndex):
    """Exact search over a dense float32 matrix (brute force; best below ~50k vectors).

    Appends go into spare capacity and the live count is published last, so readers running during
    an update see either the old or the new set, never a half-written row.
    """

    def __init__(self, dim: int = 512) -> None:
        super().__init__(dim)
        self._mat = np.zeros((0, dim), dtype=np.float32)
        self._keys = np.zeros(0, dtype=np.int64)
        self._n = 0
        self._pos: dict[int, int] = {}
        # Readers look rows up through one (matrix, key -> position array) pair published atomically.
        self._lookup: tuple[np.ndarray, np.ndarray] = (self._mat, np.zeros(0, dtype=np.int64))
        self._lock = threading.Lock()

    def _publish_lookup(self) -> None:
        top = max(self._pos, default=-1) + 1
        pos = np.full(top, -1, dtype=np.int64)
        if self._pos:
            pos[np.fromiter(self._pos.keys(), dtype=np.int64)] = np.fromiter(self._pos.values(), dtype=np.int64)
        self._lookup = (self._mat, pos)

    def _add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        with self._lock:
            fresh = [i for i, k in enumerate(keys.tolist()) if k not in self._pos]
            for i, k in enumerate(keys.tolist()):
                if k in self._pos:
                    self._mat[self._pos[k]] = vectors[i]
            if not fresh:
                return
            need = self._n + len(fresh)
            if need > len(self._mat):
                cap = max(need, 2 * len(self._mat), 64)
                mat = np.zeros((cap, self.dim), dtype=np.float32)
                mat[: self._n] = self._mat[: self._n]
                ks = np.full(cap, -1, dtype=np.int64)
                ks[: self._n] = self._keys[: self._n]
            else:
                mat, ks = self._mat, self._keys
            sel = np.asarray(fresh)
            mat[self._n : need] = vectors[sel]
            ks[self._n : need] = keys[sel]
            for j, k in enumerate(keys[sel].tolist()):
                self._pos[k] = self._n + j
            self._mat, self._keys = mat, ks
            self._n = need
            self._publish_lookup()

    def _remove(self, keys: np.ndarray) -> None:
        with self._lock:
            gone = [k for k in keys.tolist() if k in self._pos]
            if not gone:
                return
            drop = {self._pos.pop(k) for k in gone}
            mask = np.ones(self._n, dtype=bool)
            mask[list(drop)] = False
            live = np.flatnonzero(mask)
            # Copy-on-write: readers holding the old arrays keep a consistent view.
            mat = np.zeros((max(len(live), 64), self.dim), dtype=np.float32)
            mat[: len(live)] = self._mat[live]
            ks = np.full(len(mat), -1, dtype=np.int64)
            ks[: len(live)] = self._keys[live]
            self._pos = {int(k): i for i, k in enumerate(ks[: len(live)].tolist())}
            self._mat, self._keys, self._n = mat, ks, len(live)
            self._publish_lookup()

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        mat, ks, n = self._mat, self._keys, self._n
        n = min(n, len(mat), len(ks))
        out_k = np.full((len(queries), k), -1, dtype=np.int64)
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        if n == 0:
            return out_k, out_s
        sims = np.ascontiguousarray(queries @ mat[:n].T, dtype=np.float32)
        kk = min(k, n)
        floor = top_floor(sims, kk)  # per query: at least kk rows reach it, and only those are sorted
        order = _top_rows(sims, floor.astype(np.float32), kk)
        out_k[:, :kk] = ks[order]
        out_s[:, :kk] = np.take_along_axis(sims, order, axis=1)
        return out_k, out_s

    @staticmethod
    def _rows(mat: np.ndarray, pos: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each key's row in ``mat`` (0 where unknown) and whether it is known, from one published lookup pair."""
        p = np.full(len(keys), -1, dtype=np.int64)
        known = (keys >= 0) & (keys < len(pos))
        p[known] = pos[keys[known]]
        hit = (p >= 0) & (p < len(mat))
        return np.where(hit, p, 0), hit

    def _get(self, keys: np.ndarray) -> np.ndarray:
        mat, pos = self._lookup
        p, hit = self._rows(mat, pos, keys)
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        out[hit] = mat[p[hit]]
        return out

    def _similarities(self, queries: np.ndarray, keys: np.ndarray, owner: np.ndarray) -> np.ndarray:
        mat, pos = self._lookup
        p, hit = self._rows(mat, pos, keys)
        if len(queries) * len(mat) <= 4 * len(keys):
            # A small pool, many candidates: every query against every row is less work than copying out one
            # row per candidate (a batch's candidates can cover the same few hundred rows many times over).
            sims = (queries @ mat.T)[owner, p]
        else:
            sims = np.einsum("ij,ij->i", mat[p], queries[owner])
        return np.where(hit, sims, 0.0).astype(np.float32)

    def keys(self) -> np.ndarray:
        return self._keys[: self._n].copy()

    def save(self, path: Path) -> None:
        np.savez(path, keys=self._keys[: self._n], vectors=self._mat[: self._n])

    @classmethod
    def load(cls, path: Path) -> NumpyIndex:
        with np.load(path) as z:
            keys, vecs = z["keys"], z["vectors"]
        idx = cls(int(vecs.shape[1]) if vecs.ndim == 2 and vecs.shape[1] else 512)
        idx.add(keys, vecs)
        return idx

    def __len__(self) -> int:
        return self._n


class UsearchIndex(ClaimIndex):
    """Approximate search with usearch HNSW over int8-quantised vectors (for large pools).

    A lock serialises writers against readers; single inserts take microseconds, so reads barely wait.
    """

    def __init__(self, dim: int = 512, *, connectivity: int = CONNECTIVITY,
                 expansion_search: int = EXPANSION_SEARCH) -> None:
        from usearch.index import Index

        super().__init__(dim)
        self._index = Index(
            ndim=dim, metric="cos", dtype="i8", connectivity=connectivity, expansion_add=EXPANSION_ADD,
            expansion_search=expansion_search,
        )
        self._lock = threading.RLock()

    def set_expansion(self, expansion_search: int) -> None:
        """Candidates the graph search keeps (ef): more finds more of the exact top list, at more cost per query
        (`benchmarks/bench_hnsw.py`)."""
        if expansion_search < 1:
            raise Invalid("expansion_search must be positive", field="expansion_search")
        with self._lock:
            self._index.expansion_search = int(expansion_search)

    @property
    def expansion(self) -> int:
        return int(self._index.expansion_search)

    def search_exact(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Top-``k`` keys per query by brute force over the stored int8 vectors (for measuring the graph's recall)."""
        with self._lock:
            res = self._index.search(np.asarray(queries, dtype=np.float32), k, exact=True,
                                     threads=_search_threads())
        return np.asarray(res.keys, dtype=np.int64).reshape(len(queries), -1)

    def _add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        with self._lock:
            present = np.array([self._index.contains(int(k)) for k in keys]) if len(self._index) else None
            if present is not None and present.any():
                self._index.remove(keys[present])
            self._index.add(keys, vectors, threads=2 if len(keys) > 1000 else 1)

    def _remove(self, keys: np.ndarray) -> None:
        with self._lock:
            live = [int(k) for k in keys if self._index.contains(int(k))]
            if live:
                self._index.remove(np.asarray(live, dtype=np.int64))

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        out_k = np.full((len(queries), k), -1, dtype=np.int64)
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        with self._lock:
            if len(self._index) == 0:
                return out_k, out_s
            res = self._index.search(queries, k, threads=_search_threads())
        keys = np.asarray(res.keys).reshape(len(queries), -1)
        dist = np.asarray(res.distances, dtype=np.float32).reshape(len(queries), -1)
        counts = np.asarray(getattr(res, "counts", [len(res.keys)])).reshape(-1)
        for i in range(len(queries)):
            c = int(min(counts[i], k))
            out_k[i, :c] = keys[i, :c]
            out_s[i, :c] = 1.0 - dist[i, :c]  # cosine distance is 1 - similarity
        return out_k, out_s

    def _int8_rows(self, keys: np.ndarray) -> np.ndarray:
        """The stored int8 rows of ``keys`` (n, dim), all zero for unknown keys; fetched one array per key, with no
        float copy of any."""
        from usearch.index import ScalarKind

        with self._lock:
            got = self._index._compiled.get_many(np.asarray(keys, dtype=np.uint64), ScalarKind.I8)
        if len(got) and all(v is not None for v in got):
            return np.stack(got).reshape(len(keys), self.dim).view(np.int8)  # type: ignore[arg-type]
        rows = np.zeros((len(keys), self.dim), dtype=np.int8)
        for i, v in enumerate(got):
            if v is not None:
                rows[i] = v.view(np.int8).reshape(-1)
        return rows

    def _get(self, keys: np.ndarray) -> np.ndarray:
        out = self._int8_rows(keys).astype(np.float32)
        # int8 storage keeps direction, not length.
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    def _similarities(self, queries: np.ndarray, keys: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """From the stored int8 rows directly (`_int8_cosines`): a batch's candidates are thousands of rows, and
        the float32 copies `_get` makes (the rows, normalised, and a query per row) were tens of megabytes per
        batch, allocated afresh after a scan forks."""
        return _int8_cosines(self._int8_rows(keys), np.ascontiguousarray(queries, dtype=np.float32), owner)

    def keys(self) -> np.ndarray:
        with self._lock:
            return np.asarray(self._index.keys, dtype=np.int64).copy()

    def save(self, path: Path) -> None:
        with self._lock:
            self._index.save(str(path))

    @classmethod
    def load(cls, path: Path) -> UsearchIndex:
        from usearch.index import Index

        inner = Index.restore(str(path), view=False)
        if inner is None:
            raise Invalid(f"not a usearch index: {path}")
        # The file keeps the graph, not the expansion settings: a restored index would search with usearch's
        # default (64) and add with 128.
        inner.expansion_add = EXPANSION_ADD
        inner.expansion_search = EXPANSION_SEARCH
        idx = cls(int(inner.ndim))
        idx._index = inner
        return idx

    def __len__(self) -> int:
        return len(self._index)


def _search_threads() -> int:
    """Threads for one batch search: usearch (built without OpenMP) otherwise starts one per core for each call,
    which in a process that is one of several busy ones on the same cores (`lifecycle.one_math_thread`: scan
    workers, analysis helpers) only takes turns with the others."""
    return 1 if os.environ.get("OMP_NUM_THREADS") == "1" else 0


def make_index(n_vectors: int, dim: int = 512) -> ClaimIndex:
    """The right implementation for a pool of ``n_vectors``."""
    return UsearchIndex(dim) if n_vectors > EXACT_LIMIT else NumpyIndex(dim)


@vector_kernel
def _int8_cosines(rows: np.ndarray, queries: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Cosine of each int8 row with its query ``queries[owner[i]]`` (unit float32); 0 for an all-zero row."""
    out = np.zeros(rows.shape[0], dtype=np.float32)
    for i in range(rows.shape[0]):
        q = queries[owner[i]]
        dot = np.float32(0.0)
        sq = np.float32(0.0)
        for j in range(rows.shape[1]):
            v = np.float32(rows[i, j])
            dot += v * q[j]
            sq += v * v
        if sq > 0:
            out[i] = dot / np.sqrt(sq)
    return out


@kernel
def _top_rows(sims: np.ndarray, floor: np.ndarray, k: int) -> np.ndarray:
    """Per query (row of ``sims``), the positions of its ``k`` highest similarities, highest first, ties by
    position; only the values reaching the query's ``floor`` (at least ``k`` do) are sorted."""
    out = np.empty((sims.shape[0], k), dtype=np.int64)
    cand = np.empty(sims.shape[1], dtype=np.int64)
    for i in range(sims.shape[0]):
        m = 0
        for j in range(sims.shape[1]):
            if sims[i, j] >= floor[i]:
                cand[m] = j
                m += 1
        if m < k:  # a NaN floor (a NaN similarity) is reached by none: sort every position
            m = sims.shape[1]
            cand[:m] = np.arange(m)
        vals = np.empty(m, dtype=np.float32)
        for j in range(m):
            vals[j] = -sims[i, cand[j]]
        order = np.argsort(vals, kind="mergesort")  # stable: equal similarities stay in position order
        for j in range(k):
            out[i, j] = cand[order[j]]
    return out
