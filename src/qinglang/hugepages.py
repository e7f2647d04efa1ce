"""Transparent huge pages for a process that holds a large pool in memory.

A 1M-debunk matcher holds about 3.7 GiB: the HNSW graph and its int8 vectors, the BM25 matrices, the row views.
Matching walks them at random, so with 4 KiB pages nearly every step of a graph search or a posting walk also
misses the processor's address cache (TLB), and forking a scan worker copies a page-table entry for every 4 KiB
of it (and its exit tears them down again). numpy already asks for 2 MiB pages for its own large arrays; the
HNSW library maps its memory itself, and arrays read from files sit in plain allocations, so about half of such a
process was in 4 KiB pages.

`collapse_large_mappings` asks Linux to put the resident parts of this process's private anonymous memory into
2 MiB pages now (``madvise`` MADV_HUGEPAGE, then MADV_COLLAPSE, Linux 6.1 and later), 2 MiB range by 2 MiB range:
a range is taken only when nearly all of it is resident (``mincore``), since collapsing fills a huge page whole,
so thread stacks and reserved allocator space stay as they are, also where the kernel has merged them with a
neighbouring mapping. Best effort: on another system, an older kernel, with transparent huge pages off, or without
free huge pages it changes nothing and raises nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path
from typing import Any

import numpy as np

MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25
PAGE = 4096
HUGE_PAGE = 2 << 20
MIN_BYTES = 8 << 20  # mappings smaller than this are not worth the calls
MIN_RESIDENT = 0.9  # share of a 2 MiB range that must be resident

_libc: Any = None


def libc_calls() -> Any:
    """libc with `madvise` and `mincore` declared, or None."""
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return None
        libc = ctypes.CDLL(name, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.madvise.restype = ctypes.c_int
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
        libc.mincore.restype = ctypes.c_int
        _libc = libc
    return _libc


def anonymous_mappings(min_bytes: int = MIN_BYTES, maps: Path = Path("/proc/self/maps")) -> list[tuple[int, int]]:
    """(start, end) of this process's private anonymous read-write mappings (the heap included) of at least
    ``min_bytes``, cut to whole huge pages."""
    out: list[tuple[int, int]] = []
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        if len(fields) < 5 or fields[1] != "rw-p" or not (len(fields) == 5 or fields[5:] == ["[heap]"]):
            continue
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        start, end = -(-lo // HUGE_PAGE) * HUGE_PAGE, hi // HUGE_PAGE * HUGE_PAGE
        if hi - lo >= min_bytes and end > start:
            out.append((start, end))
    return out


def resident_runs(start: int, resident: np.ndarray, min_resident: float = MIN_RESIDENT) -> list[tuple[int, int]]:
    """The runs of whole 2 MiB ranges, from ``start`` (huge-page aligned), in which at least ``min_resident`` of
    the 4 KiB pages are resident (``resident``: one flag per page, as ``mincore`` gives them)."""
    per = HUGE_PAGE // PAGE
    n = len(resident) // per
    dense = (resident[: n * per].reshape(n, per) & 1).sum(axis=1) >= min_resident * per
    edges = np.flatnonzero(np.diff(np.concatenate(([0], dense.astype(np.int8), [0]))))
    return [(start + int(a) * HUGE_PAGE, start + int(b) * HUGE_PAGE) for a, b in zip(edges[::2], edges[1::2],
                                                                                        strict=True)]


def collapse_large_mappings(min_bytes: int = MIN_BYTES) -> int:
    """Put the resident parts of this process's large anonymous mappings into huge pages now; the bytes asked for
    (0 where nothing can be done). Ranges already in huge pages cost little; the rest a few seconds per GiB (the
    1M pool's load took about 4 s longer in `benchmarks/bench_hugepages.py`)."""
    libc = libc_calls()
    if libc is None:
        return 0
    asked = 0
    for start, end in anonymous_mappings(min_bytes):
        pages = (end - start) // PAGE
        vec = (ctypes.c_ubyte * pages)()
        if libc.mincore(start, end - start, vec) != 0:
            continue  # unmapped meanwhile
        for lo, hi in resident_runs(start, np.frombuffer(vec, dtype=np.uint8)):
            if libc.madvise(lo, hi - lo, MADV_HUGEPAGE) != 0:
                return asked  # transparent huge pages unsupported or off
            libc.madvise(lo, hi - lo, MADV_COLLAPSE)  # partial success is common (a page in use, none free): fine
            asked += hi - lo
    return asked
