"""One contract every ClaimIndex implementation must pass (exact numpy and usearch HNSW)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qinglang.errors import Invalid
from qinglang.match.index import ClaimIndex, NumpyIndex, UsearchIndex, make_index

IMPLS = [NumpyIndex, UsearchIndex]
DIM = 32


def _vecs(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _path(tmp: Path, cls: type[ClaimIndex]) -> Path:
    return tmp / ("idx.npz" if cls is NumpyIndex else "idx.usearch")


@pytest.fixture(params=IMPLS, ids=lambda c: c.__name__)
def index(request: pytest.FixtureRequest) -> ClaimIndex:
    idx: ClaimIndex = request.param(DIM)
    idx.add(np.arange(100, 400), _vecs(300))
    return idx


def test_search_finds_each_vector_first(index: ClaimIndex) -> None:
    v = _vecs(300)
    keys, sims = index.search(v[:20], 3)
    assert keys.shape == (20, 3)
    assert keys[:, 0].tolist() == list(range(100, 120))
    assert np.allclose(sims[:, 0], 1.0, atol=0.02)
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # best first


def test_remove_and_replace(index: ClaimIndex) -> None:
    v = _vecs(300)
    index.remove(np.array([100, 999_999]))  # unknown keys are ignored
    assert len(index) == 299
    keys, _ = index.search(v[:1], 5)
    assert 100 not in keys[0]
    index.add(np.array([101]), v[5:6])  # replacing a key moves it
    assert len(index) == 299
    keys, _ = index.search(v[5:6], 2)
    assert set(keys[0]) == {101, 105}


def test_get_returns_stored_direction(index: ClaimIndex) -> None:
    got = index.get(np.array([150, 123_456]))
    assert float(got[0] @ _vecs(300)[50]) > 0.98
    assert not got[1].any()


@pytest.mark.parametrize("n_keys", [5, 2000])  # few candidates (rows copied out) and many (one product)
def test_similarities_are_the_stored_vectors_dot_their_query(index: ClaimIndex, n_keys: int) -> None:
    rng = np.random.default_rng(3)
    queries = _vecs(7, seed=9)
    keys = rng.integers(90, 410, n_keys)  # some unknown keys (below 100, above 399): similarity 0
    owner = rng.integers(0, 7, n_keys)
    got = index.similarities(queries, keys, owner)
    want = np.einsum("ij,ij->i", index.get(keys), queries[owner])
    assert got.dtype == np.float32 and got.shape == (n_keys,)
    assert np.allclose(got, want, atol=1e-5)
    assert not got[(keys < 100) | (keys > 399)].any()
    with pytest.raises(Invalid):
        index.similarities(queries, keys, owner + 7)  # a key without its query


def test_short_results_are_padded(index: ClaimIndex) -> None:
    small = type(index)(DIM)
    small.add(np.array([7, 8]), _vecs(2))
    keys, sims = small.search(_vecs(1, seed=3), 5)
    assert sorted(keys[0, :2].tolist()) == [7, 8]
    assert (keys[0, 2:] == -1).all() and np.isneginf(sims[0, 2:]).all()


def test_save_load_round_trip(index: ClaimIndex, tmp_path: Path) -> None:
    p = _path(tmp_path, type(index))
    index.save(p)
    again = type(index).load(p)
    assert len(again) == len(index)
    assert sorted(again.keys().tolist()) == sorted(index.keys().tolist())
    q = _vecs(300)[40:45]
    assert (again.search(q, 1)[0] == index.search(q, 1)[0]).all()


def test_input_is_validated(index: ClaimIndex) -> None:
    with pytest.raises(Invalid):
        index.add(np.array([1, 2]), _vecs(3))
    with pytest.raises(Invalid):
        index.add(np.array([1, 1]), _vecs(2))
    with pytest.raises(Invalid):
        index.search(np.zeros((1, DIM + 1), dtype=np.float32), 3)
    with pytest.raises(Invalid):
        index.search(_vecs(1), 0)


def test_make_index_picks_exact_below_limit() -> None:
    assert isinstance(make_index(1000), NumpyIndex)
    assert isinstance(make_index(200_000), UsearchIndex)


def test_hnsw_settings_survive_save_and_load(tmp_path: Path) -> None:
    # The usearch file keeps the graph, not the search expansion: a restored index used usearch's default (64).
    from qinglang.match.index import EXPANSION_SEARCH

    idx = UsearchIndex(DIM)
    idx.add(np.arange(50), _vecs(50))
    assert idx.expansion == EXPANSION_SEARCH
    idx.save(tmp_path / "idx.usearch")
    assert UsearchIndex.load(tmp_path / "idx.usearch").expansion == EXPANSION_SEARCH
    idx.set_expansion(24)
    assert idx.expansion == 24
    assert idx.search_exact(_vecs(50)[:5], 1)[:, 0].tolist() == [0, 1, 2, 3, 4]  # brute force, for bench_hnsw
    with pytest.raises(Invalid):
        idx.set_expansion(0)
