"""The shipped re-ranker: its compiled trees score exactly as LightGBM does, and the compiled form is cached."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qinglang.match import reranker
from qinglang.match.features import FEATURES


def _rows(n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(3)
    x = rng.normal(0.3, 1.0, size=(n, len(FEATURES))).astype(np.float32)
    x[rng.random(x.shape) < 0.25] = np.nan  # lexical features are NaN across scripts, dates when unknown
    return x


def test_compiled_trees_score_as_lightgbm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QINGLANG_CACHE_DIR", str(tmp_path))
    scorer = reranker.load_scorer()
    assert scorer.booster is not None and scorer.compiled is not None
    x = _rows()
    plain = reranker.Scorer(scorer.booster, scorer.calibration)
    np.testing.assert_allclose(scorer.raw(x), plain.raw(x), rtol=0, atol=1e-9)
    assert scorer.raw(x[:0]).shape == (0,)
    cached = list(tmp_path.glob("reranker-*.o"))
    assert len(cached) == 1 and cached[0].stat().st_size > 0
    # A second load reads the cached object file and scores the same.
    again = reranker.load_scorer()
    np.testing.assert_array_equal(again.raw(x), scorer.raw(x))
    assert list(tmp_path.glob("reranker-*.o")) == cached and not list(tmp_path.glob(".*"))


def test_compiling_can_be_turned_off_and_an_unwritable_cache_still_compiles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QINGLANG_COMPILED_RERANKER", "0")
    assert reranker.load_scorer().compiled is None
    monkeypatch.delenv("QINGLANG_COMPILED_RERANKER")
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("QINGLANG_CACHE_DIR", str(blocked / "cache"))
    scorer = reranker.load_scorer()
    assert scorer.compiled is not None
    x = _rows(50)
    np.testing.assert_allclose(scorer.raw(x), reranker.Scorer(scorer.booster, scorer.calibration).raw(x), atol=1e-9)


def test_a_damaged_cached_file_is_replaced_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LLVM aborts the process on a bad object file, so a damaged one must never reach it."""
    monkeypatch.setenv("QINGLANG_CACHE_DIR", str(tmp_path))
    good = reranker.load_scorer()
    (cached,) = tmp_path.glob("reranker-*.o")
    cached.write_bytes(cached.read_bytes()[:1000] + b"damaged")
    scorer = reranker.load_scorer()
    assert scorer.compiled is not None
    x = _rows(50)
    np.testing.assert_array_equal(scorer.raw(x), good.raw(x))
    (fresh,) = tmp_path.glob("reranker-*.o")  # the damaged file was replaced by an intact one
    assert hashlib.sha256(fresh.read_bytes()).hexdigest()[:16] == fresh.stem.rsplit("-", 1)[1]


def test_scoring_with_the_compiled_trees_never_imports_lightgbm() -> None:
    """LightGBM (with scikit-learn and SciPy) costs about a second of CPU per process; compiled trees don't need it."""
    code = (
        "import sys, numpy as np\n"
        "from qinglang.match import reranker\n"
        "s = reranker.load_scorer()\n"
        "s.raw(np.zeros((3, len(reranker.FEATURES)), dtype=np.float32))\n"
        "print(s.compiled is not None, 'lightgbm' in sys.modules)\n"
        "s.booster\n"
        "print('lightgbm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         ).stdout.split()  # the installation's cache: `make` compiled the trees already
    assert out == ["True", "False", "True"]
