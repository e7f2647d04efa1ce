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


GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: a multiplier that spreads bits (Fibonacci hashing)


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser of each uint32 (a bijection that spreads the bits)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def salted(codes: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """64-bit codes made distinct per owner (XOR with a fixed pseudo-random word per owner id), so that set
    membership for many owners is one sorted lookup; two owners' codes collide with probability about 2^-64."""
    salt = (owner.astype(np.uint64) + np.uint64(1)) * GOLDEN
    salt ^= salt >> np.uint64(29)
    return codes.astype(np.int64) ^ salt.view(np.int64)


_TABLE_MIN = 2048  # below this many values a binary search of each is cheaper than building the table


def contains(sorted_ref: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which ``values`` occur in ``sorted_ref`` (sorted, distinct; both int64): ``sorted_lookup(...)[1]``, with a
    hashed table in front. Most values looked up are absent (a candidate row's n-grams against a text's), and
    looking one up in a table of about 64 slots per reference value costs a fraction of a binary search; only the
    values whose slot is taken (the present ones, and about 1.5 % of the absent) are searched."""
    if len(values) < _TABLE_MIN or not len(sorted_ref):
        return sorted_lookup(sorted_ref, values)[1]
    sorted_ref, values = sorted_ref.astype(np.int64, copy=False), values.astype(np.int64, copy=False)
    bits = min(max(int(len(sorted_ref)).bit_length() + 6, 12), 22)
    shift = np.uint64(64 - bits)
    table = np.zeros(1 << bits, dtype=bool)
    table[(sorted_ref.view(np.uint64) * GOLDEN) >> shift] = True
    maybe = np.flatnonzero(table[(values.view(np.uint64) * GOLDEN) >> shift])
    out = np.zeros(len(values), dtype=bool)
    if len(maybe):
        out[maybe] = sorted_lookup(sorted_ref, values[maybe])[1]
    return out


def top_floor(values: np.ndarray, k: int) -> np.ndarray:
    """Along the last axis (1 <= k <= its length): a value that at least ``k`` of ``values`` reach, at most the
    ``k``-th largest. On a long axis it is the k-th largest of every fourth value, so that only the values reaching
    it need partitioning or sorting (a quarter of the work of partitioning them all); else the k-th largest."""
    n = values.shape[-1]
    sample = values[..., ::4] if n >= max(8 * k, 2048) else values
    m = sample.shape[-1]
    return np.partition(sample, m - k, axis=-1)[..., m - k]
