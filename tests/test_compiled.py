"""`compiled.kernel`: numba-compiled, cached on disk, and still compiled where no cache location is writable."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


def _total(values: np.ndarray) -> float:
    s = 0.0
    for v in values:
        s += v
    return s


def test_a_kernel_is_compiled_and_falls_back_to_memory_without_a_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from numba import njit

    from qinglang import compiled

    assert compiled.kernel(_total)(np.arange(5.0)) == 10.0
    asked: list[dict[str, Any]] = []

    def no_cache_location(**options: Any) -> Any:
        asked.append(options)
        if options.get("cache"):  # what numba raises when no locator can write its cache
            raise RuntimeError("cannot cache function '_total': no locator available")
        return njit(**options)

    monkeypatch.setattr(compiled, "njit", no_cache_location)
    fn = compiled.kernel(_total)
    assert fn(np.arange(4.0)) == 6.0
    assert [o.get("cache", False) for o in asked] == [True, False]


def test_a_vector_kernel_allows_reassociation_and_sums_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    from numba import njit

    from qinglang import compiled

    values = np.random.default_rng(1).random(1000)
    assert compiled.vector_kernel(_total)(values) == pytest.approx(values.sum(), rel=1e-12)
    asked: list[dict[str, Any]] = []

    def record(**options: Any) -> Any:
        asked.append(options)
        return njit(**options)

    monkeypatch.setattr(compiled, "njit", record)
    compiled.vector_kernel(_total)
    compiled.kernel(_total)
    assert [o.get("fastmath") for o in asked] == [True, False]
