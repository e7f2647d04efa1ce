"""NumPy helpers for sorted and segmented integer arrays, shared by the matcher and dedup."""

from __future__ import annotations

import numpy as np


def sorted_lookup(sorted_ref: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``values``: a position in the sorted array ``sorted_ref``, and whether the value is there (at
    that position)."""
    if not len(sorted_ref) or not len(values):
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ref, values), len(sorted_ref) - 1)
    return pos, sorted_ref[pos] == values


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The integer ranges [start, start + length) one after another, as one array."""
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending (by sort: np.unique hashes integers and was several times slower here)."""
    out = np.sort(values)
    return out[np.concatenate(([True], out[1:] != out[:-1]))] if len(out) > 1 else out


def segment_ranks(values: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Rank of each value within its segment, highest first (0-based; ties in input order). ``seg``: the
    segment of each value, ascending (segments are contiguous)."""
    order = np.lexsort((-values, seg))
    first = np.searchsorted(seg, seg)  # where each value's segment begins
    r = np.empty(len(values), dtype=np.float32)
    r[order] = np.arange(len(values), dtype=np.float32) - first[order]
    return r


def salted(codes: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """64-bit codes made distinct per owner (XOR with a fixed pseudo-random word per owner id), so that set
    membership for many owners is one sorted lookup; two owners' codes collide with probability about 2^-64."""
    salt = (owner.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    salt ^= salt >> np.uint64(29)
    return codes.astype(np.int64) ^ salt.view(np.int64)
