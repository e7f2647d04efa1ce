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
