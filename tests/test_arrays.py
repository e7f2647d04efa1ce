"""The segmented NumPy helpers against plain per-segment Python."""

from __future__ import annotations

import numpy as np

from qinglang.arrays import contains, salted, segment_ranks, sorted_distinct, top_floor


def test_segment_ranks_are_ranks_within_each_segment() -> None:
    rng = np.random.default_rng(3)
    seg = np.sort(rng.integers(0, 6, size=60))
    values = rng.integers(0, 5, size=60).astype(np.float32)  # many ties: input order breaks them
    got = segment_ranks(values, seg)
    for s in np.unique(seg):
        idx = np.flatnonzero(seg == s)
        order = sorted(range(len(idx)), key=lambda j: (-values[idx[j]], j))
        want = np.empty(len(idx))
        want[order] = np.arange(len(idx))
        assert got[idx].tolist() == want.tolist()


def test_salted_codes_stay_equal_within_an_owner_and_differ_across() -> None:
    codes = np.array([5, 5, 7, 1 << 62, 1 << 62], dtype=np.int64)
    owner = np.array([0, 0, 0, 1, 2])
    s = salted(codes, owner)
    assert s[0] == s[1] and s[0] != s[2] and s[3] != s[4]
    # a code of owner 0 never looks like the same code of owner 1
    assert salted(np.arange(1000), np.zeros(1000, dtype=np.int64)).tolist() != \
        salted(np.arange(1000), np.ones(1000, dtype=np.int64)).tolist()
    assert not set(salted(np.arange(1000), np.zeros(1000, dtype=np.int64)).tolist()) & \
        set(salted(np.arange(1000), np.ones(1000, dtype=np.int64)).tolist())


def test_sorted_distinct_is_unique() -> None:
    rng = np.random.default_rng(4)
    for n in (0, 1, 2, 50):
        values = rng.integers(0, 10, size=n)
        assert sorted_distinct(values).tolist() == np.unique(values).tolist()


def test_contains_is_set_membership_through_the_table_too() -> None:
    rng = np.random.default_rng(5)
    for n_ref, n_values in ((0, 5000), (1, 3000), (40, 100), (3000, 20000), (20000, 5000)):
        ref = np.unique(rng.integers(-(2**62), 2**62, size=n_ref))
        values = np.concatenate([rng.choice(ref, size=min(n_ref, 500)) if n_ref else np.zeros(0, np.int64),
                                 rng.integers(-(2**62), 2**62, size=n_values), ref[-1:] + 1, ref[:1] - 1])
        want = np.isin(values, ref)
        assert contains(ref, values).tolist() == want.tolist()


def test_top_floor_is_reached_by_at_least_k_per_row_and_never_above_the_kth() -> None:
    rng = np.random.default_rng(7)
    for n, k in ((30, 30), (100, 5), (5000, 30)):  # the last one samples every fourth value
        rows = rng.random((6, n)).astype(np.float32)
        floor = top_floor(rows, k)
        for row, f in zip(rows, floor, strict=True):
            assert (row >= f).sum() >= k and f <= np.sort(row)[::-1][k - 1]
