"""Huge pages for large pools: which mappings are chosen, and that Linux really backs one with 2 MiB pages."""

from __future__ import annotations

import ctypes
import mmap
from pathlib import Path

import numpy as np
import pytest

from qinglang.hugepages import (
    HUGE_PAGE,
    MADV_COLLAPSE,
    MADV_HUGEPAGE,
    anonymous_mappings,
    collapse_large_mappings,
    libc_calls,
    resident_runs,
)

MIB = 1 << 20


def test_anonymous_mappings_takes_private_anonymous_ones_cut_to_whole_huge_pages(tmp_path: Path) -> None:
    base = 0x7F0000000000

    def line(lo: int, hi: int, perms: str, name: str = "") -> str:
        return f"{base + lo:x}-{base + hi:x} {perms} 00000000 00:00 0 {name}".rstrip()

    maps = tmp_path / "maps"
    maps.write_text("\n".join([
        line(4096, 64 * MIB + 4096, "rw-p"),  # anonymous: taken, cut to whole huge pages
        line(128 * MIB, 160 * MIB, "rw-p", "[heap]"),  # the heap: taken
        line(300 * MIB, 302 * MIB, "rw-p"),  # too small: left
        line(400 * MIB, 464 * MIB, "rw-s"),  # shared memory: left
        line(512 * MIB, 576 * MIB, "r--p", "/usr/lib/libfoo.so"),  # a file: left
        line(600 * MIB, 664 * MIB, "rw-p", "/tmp/data file.bin"),  # a writable file mapping, a space in its name
        line(700 * MIB, 732 * MIB, "rw-p", "[stack]"),  # the main stack: left
    ]) + "\n")
    got = anonymous_mappings(8 * MIB, maps)
    assert got == [(base + 2 * MIB, base + 64 * MIB), (base + 128 * MIB, base + 160 * MIB)]
    assert anonymous_mappings(maps=tmp_path / "missing") == []


def test_resident_runs_takes_the_2_mib_ranges_nearly_all_resident() -> None:
    per = HUGE_PAGE // 4096
    start = 0x7F0000000000
    pages = np.zeros(6 * per, dtype=np.uint8)
    pages[0 : 2 * per] = 1  # two whole ranges
    pages[2 * per : 2 * per + per // 2] = 1  # half of the third: left (a thread stack, reserved space)
    pages[4 * per : 5 * per] = 1
    pages[4 * per + 3] = 0  # one page missing of the fifth: still nearly all
    pages[5 * per : 6 * per] = 0x81  # mincore's other bits are ignored
    assert resident_runs(start, pages) == [(start, start + 2 * HUGE_PAGE),
                                           (start + 4 * HUGE_PAGE, start + 6 * HUGE_PAGE)]
    assert resident_runs(start, np.zeros(per - 1, dtype=np.uint8)) == []


def _huge_kb_within(lo: int, hi: int) -> int:
    """AnonHugePages of the mappings overlapping [lo, hi) (madvise splits a mapping at the range it advises)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            inside = start < hi and lo < end
        elif inside and fields and fields[0] == "AnonHugePages:":
            total += int(fields[1])
    return total


def _kernel_collapses() -> bool:
    """Whether this machine collapses memory into huge pages on request at all (transparent huge pages on, Linux
    6.1+, a free huge page): tried directly on a small fresh buffer."""
    libc = libc_calls()
    if libc is None:
        return False
    buf = mmap.mmap(-1, 6 * MIB, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buf[:] = b"\x01" * len(buf)
    view = ctypes.c_char.from_buffer(buf)
    try:
        lo = -(-ctypes.addressof(view) // HUGE_PAGE) * HUGE_PAGE
        return (libc.madvise(lo, HUGE_PAGE, MADV_HUGEPAGE) == 0 and libc.madvise(lo, HUGE_PAGE, MADV_COLLAPSE) == 0
                and _huge_kb_within(lo, lo + HUGE_PAGE) >= HUGE_PAGE // 1024)
    finally:
        del view
        buf.close()


def test_collapse_puts_a_large_resident_buffer_into_huge_pages_and_keeps_its_bytes() -> None:
    if not _kernel_collapses():
        pytest.skip("this machine does not collapse memory into transparent huge pages on request")
    size = 32 * MIB
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # fresh memory nobody advised
    pattern = bytes(range(256)) * (size // 256)
    buf[:] = pattern
    view = ctypes.c_char.from_buffer(buf)
    address = ctypes.addressof(view)
    try:
        before = _huge_kb_within(address, address + size)
        assert collapse_large_mappings() >= 16 * MIB
        # at least 8 of its 15-16 whole 2 MiB pages
        assert _huge_kb_within(address, address + size) >= before + 16 * 1024
        assert buf[:] == pattern
    finally:
        del view
        buf.close()
