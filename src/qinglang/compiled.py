"""Loops compiled to machine code (numba) where NumPy's cost per call, not the arithmetic, was the price.

`kernel` compiles a function on its first call and keeps the machine code on disk (beside the module, or in
numba's user cache, or NUMBA_CACHE_DIR), so later processes load it in milliseconds. Where no cache location is
writable (a read-only install without a home directory), each process compiles it in memory instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from numba import njit

F = TypeVar("F", bound=Callable[..., object])


def kernel(fn: F) -> F:
    """``fn`` compiled by numba (nopython, releasing the GIL), cached on disk when it can be."""
    return _compile(fn, fastmath=False)


def vector_kernel(fn: F) -> F:
    """`kernel` allowing floating-point reassociation (numba's fastmath), so that a sum of products runs in the
    processor's vector lanes: its result may differ from a sequential sum in the last bits of a float32."""
    return _compile(fn, fastmath=True)


def _compile(fn: F, *, fastmath: bool) -> F:
    try:
        return njit(cache=True, nogil=True, fastmath=fastmath)(fn)  # type: ignore[no-any-return]
    except RuntimeError:  # numba found no writable place for its cache
        return njit(nogil=True, fastmath=fastmath)(fn)  # type: ignore[no-any-return]
