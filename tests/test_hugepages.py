"""Huge pages for large pools: which mappings are chosen, and that Linux really backs one with 2 MiB pages."""

from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path

import pytest

from qinglang.hugepages import HUGE_PAGE, collapse_large_mappings, large_mappings

MIB = 1 << 20


def _mapping(lo: int, hi: int, perms: str, name: str, rss_kb: int) -> str:
    head = f"{lo:x}-{hi:x} {perms} 00000000 00:00 0"
    return "\n".join([f"{head} {name}".rstrip(), f"Size: {(hi - lo) // 1024} kB", "KernelPageSize: 4 kB",
                      f"Rss: {rss_kb} kB", "AnonHugePages: 0 kB", "VmFlags: rd wr mr mw me ac"])


def test_large_mappings_takes_resident_private_anonymous_ones_cut_to_whole_huge_pages(tmp_path: Path) -> None:
    base = 0x7F0000000000
    smaps = tmp_path / "smaps"
    smaps.write_text("\n".join([
        _mapping(base + 4096, base + 64 * MIB + 4096, "rw-p", "", 64 * 1024),  # resident anonymous: taken, cut
        _mapping(base + 128 * MIB, base + 160 * MIB, "rw-p", "[heap]", 32 * 1024),  # the heap: taken
        _mapping(base + 256 * MIB, base + 264 * MIB, "rw-p", "", 16),  # a thread stack, barely touched: left
        _mapping(base + 300 * MIB, base + 302 * MIB, "rw-p", "", 2048),  # too small: left
        _mapping(base + 400 * MIB, base + 464 * MIB, "rw-s", "", 64 * 1024),  # shared memory: left
        _mapping(base + 512 * MIB, base + 576 * MIB, "r--p", "/usr/lib/libfoo.so", 64 * 1024),  # a file: left
        _mapping(base + 640 * MIB, base + 672 * MIB, "rw-p", "[stack]", 32 * 1024),  # the main stack: left
    ]) + "\n")
    got = large_mappings(8 * MIB, 0.9, smaps)
    assert got == [(base + 2 * MIB, base + 64 * MIB), (base + 128 * MIB, base + 160 * MIB)]
    assert all(lo % HUGE_PAGE == 0 and hi % HUGE_PAGE == 0 for lo, hi in got)
    assert large_mappings(smaps=tmp_path / "missing") == []


def _thp_collapse_available() -> bool:
    enabled = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not enabled.is_file() or "[never]" in enabled.read_text():
        return False
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())  # type: ignore[union-attr]
    return (major, minor) >= (6, 1)  # MADV_COLLAPSE


def _huge_kb_at(address: int) -> int:
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            inside = lo <= address < hi
        elif inside and fields and fields[0] == "AnonHugePages:":
            return int(fields[1])
    return 0


@pytest.mark.skipif(not _thp_collapse_available(), reason="no transparent huge pages with MADV_COLLAPSE here")
def test_collapse_puts_a_large_resident_buffer_into_huge_pages_and_keeps_its_bytes() -> None:
    size = 32 * MIB
    buf = bytearray(size)  # a plain allocation, which nobody asked huge pages for
    pattern = bytes(range(256)) * (size // 256)
    buf[:] = pattern
    address = ctypes.addressof((ctypes.c_char * size).from_buffer(buf))
    before = _huge_kb_at(address)
    assert collapse_large_mappings() >= 16 * MIB
    assert _huge_kb_at(address) >= before + 8 * 1024  # at least four of its 2 MiB pages
    assert buf == pattern
