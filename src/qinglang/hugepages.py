"""Transparent huge pages for a process that holds a large pool in memory.

A 1M-debunk matcher holds about 3.7 GiB: the HNSW graph and its int8 vectors, the BM25 matrices, the row views.
Matching walks them at random, so with 4 KiB pages nearly every step of a graph search or a posting walk also
misses the processor's address cache (TLB), and forking a scan worker copies a page-table entry for every 4 KiB
of it (and its exit tears them down again). numpy already asks for 2 MiB pages for its own large arrays; the
HNSW library maps its memory itself, and arrays read from files sit in plain allocations, so about half of such a
process was in 4 KiB pages.

`collapse_large_mappings` asks Linux to put this process's large, resident, private anonymous mappings into
2 MiB pages now (``madvise`` MADV_HUGEPAGE, then MADV_COLLAPSE, Linux 6.1 and later). Best effort: on another
system, an older kernel, with transparent huge pages off, or without free huge pages it changes nothing and
raises nothing. Mappings that are mostly not resident (thread stacks, reserved allocator space) are left alone:
collapsing fills a 2 MiB page whole.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from pathlib import Path

MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25
HUGE_PAGE = 2 << 20
MIN_BYTES = 8 << 20  # smaller mappings are not worth the walk
MIN_RESIDENT = 0.9  # share of a mapping that must be resident

_libc: ctypes.CDLL | None = None


def _madvise() -> Callable[[int, int, int], int] | None:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return None
        _libc = ctypes.CDLL(name, use_errno=True)
        _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        _libc.madvise.restype = ctypes.c_int
    madvise: Callable[[int, int, int], int] = _libc.madvise
    return madvise


def large_mappings(min_bytes: int = MIN_BYTES, min_resident: float = MIN_RESIDENT,
                   smaps: Path = Path("/proc/self/smaps")) -> list[tuple[int, int]]:
    """(start, end) of this process's private anonymous read-write mappings (the heap included) of at least
    ``min_bytes`` with at least ``min_resident`` of them resident, cut to whole huge pages."""
    out: list[tuple[int, int]] = []
    try:
        lines = smaps.read_text().splitlines()
    except OSError:
        return out
    span: tuple[int, int] | None = None
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            anonymous = len(fields) == 5 or (len(fields) == 6 and fields[5] == "[heap]")
            span = (lo, hi) if anonymous and fields[1] == "rw-p" and hi - lo >= min_bytes else None
        elif span is not None and fields[0] == "Rss:":
            lo, hi = span
            if int(fields[1]) * 1024 >= min_resident * (hi - lo):
                start, end = -(-lo // HUGE_PAGE) * HUGE_PAGE, hi // HUGE_PAGE * HUGE_PAGE
                if end > start:
                    out.append((start, end))
            span = None
    return out


def collapse_large_mappings(min_bytes: int = MIN_BYTES) -> int:
    """Put this process's large resident anonymous mappings into huge pages now; the bytes asked for (0 where
    nothing can be done). Takes about a second per 1.5 GiB."""
    madvise = _madvise()
    if madvise is None:
        return 0
    asked = 0
    for start, end in large_mappings(min_bytes):
        if madvise(start, end - start, MADV_HUGEPAGE) != 0:
            continue  # transparent huge pages unsupported or off
        madvise(start, end - start, MADV_COLLAPSE)  # partial success is common (a page in use, none free): fine
        asked += end - start
    return asked
