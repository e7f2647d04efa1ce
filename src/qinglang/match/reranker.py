"""Turn candidate features into calibrated match probabilities and bands.

Loads the shipped LightGBM re-ranker (``artefacts/reranker.txt``) and its calibration
(``artefacts/reranker.json``: isotonic points and band thresholds), both written by
``python -m qinglang.match.train_reranker``. Without them it falls back on z-score fusion through a
fixed logistic curve. Never trains at run time, never downloads.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import structlog

from qinglang.match.features import FEATURES

log = structlog.get_logger("qinglang.match")

ARTEFACTS = Path(__file__).parent / "artefacts"
MODEL_FILE = ARTEFACTS / "reranker.txt"
CALIB_FILE = ARTEFACTS / "reranker.json"


@dataclass
class Calibration:
    """Monotone map from raw model score to probability, and the band thresholds on that probability."""

    xs: list[float] = field(default_factory=lambda: [-4.0, 4.0])
    ys: list[float] = field(default_factory=lambda: [0.0, 1.0])
    match_threshold: float = 0.8
    possible_threshold: float = 0.3

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return np.clip(np.interp(raw, self.xs, self.ys), 0.0, 1.0)

    def band(self, p: float) -> str:
        if p >= self.match_threshold:
            return "match"
        return "possible" if p >= self.possible_threshold else "none"


class Scorer:
    """Raw ranking score plus calibration; thread-safe (LightGBM prediction is, and so is the compiled forest).
    ``compiled``: the same trees as native code (`compile_forest`), used instead of the booster when given.
    ``model_file``: where the booster is read from, on first use, when it is not given: with the compiled trees
    it is never needed to score, and importing LightGBM (with scikit-learn and much of SciPy) costs about a
    second of CPU in every process that would load it."""

    def __init__(self, booster: object | None, calibration: Calibration, compiled: object | None = None,
                 model_file: Path | None = None) -> None:
        self._booster = booster
        self._model_file = model_file
        self._booster_lock = threading.Lock()
        self.calibration = calibration
        self.compiled = compiled

    @property
    def booster(self) -> object | None:
        """The LightGBM booster (None for the fusion fallback), read from ``model_file`` on first use."""
        with self._booster_lock:
            if self._booster is None and self._model_file is not None:
                import lightgbm as lgb

                self._booster = lgb.Booster(model_str=self._model_file.read_text(encoding="utf-8"))
            return self._booster

    def raw(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.float64)
        if self.compiled is not None:
            return np.asarray(self.compiled.predict(x, n_jobs=1), dtype=np.float64)  # type: ignore[attr-defined]
        booster = self.booster
        if booster is not None:
            return np.asarray(booster.predict(x, num_threads=1), dtype=np.float64)  # type: ignore[attr-defined]
        return _fusion(x)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return self.calibration.probability(self.raw(x))


def _fusion(x: np.ndarray) -> np.ndarray:
    """Fallback: z-score fusion of dense and lexical evidence (lexical missing → dense only)."""
    fi = {f: i for i, f in enumerate(FEATURES)}
    dz = np.nan_to_num(x[:, fi["dense_z"]])
    bz = x[:, fi["bm25_z"]]
    dense = x[:, fi["dense_best"]]
    fused = np.where(np.isnan(bz), 2.0 * dz, dz + np.nan_to_num(bz))
    return 0.35 * fused + 6.0 * (dense - 0.55) - 1.0


_lock = threading.Lock()
_default: Scorer | None = None


def load_scorer(model_file: Path = MODEL_FILE, calib_file: Path = CALIB_FILE) -> Scorer:
    """A scorer from the given artefacts, or the fusion fallback when they are absent."""
    if not model_file.is_file() or not calib_file.is_file():
        return Scorer(None, Calibration(xs=[-4.0, 0.0, 4.0], ys=[0.02, 0.5, 0.98]))
    meta = json.loads(calib_file.read_text(encoding="utf-8"))
    if tuple(meta.get("features", ())) != FEATURES:
        raise ValueError(f"{calib_file} was trained on different features; retrain the re-ranker")
    compiled = compile_forest(model_file)
    cal = Calibration(
        xs=list(meta["calibration"]["xs"]), ys=list(meta["calibration"]["ys"]),
        match_threshold=float(meta["match_threshold"]), possible_threshold=float(meta["possible_threshold"]),
    )
    scorer = Scorer(None, cal, compiled, model_file=model_file)
    if compiled is None:
        _ = scorer.booster  # LightGBM scores: read the model now, so that a bad file fails here
    return scorer


def compile_forest(model_file: Path) -> object | None:
    """The model's trees compiled to native code by lleaves (LLVM): the same scores as LightGBM's predict, 6-7x
    faster (`benchmarks/bench_reranker.py`). Compiling takes seconds, so the object file is kept in the cache
    directory (QINGLANG_CACHE_DIR, else ~/.cache/qinglang), keyed by the model, the lleaves and llvmlite versions
    and this CPU (it is native code); without a usable cache it compiles in memory. None, and LightGBM predicts,
    when lleaves is missing or fails, or when QINGLANG_COMPILED_RERANKER=0."""
    if os.environ.get("QINGLANG_COMPILED_RERANKER", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        from importlib.metadata import version

        import lleaves
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        cpu = llvm.get_host_cpu_name() + llvm.get_host_cpu_features().flatten()
        tag = f"|{version('lleaves')}|{version('llvmlite')}|{cpu}"
        key = hashlib.sha256(model_file.read_bytes() + tag.encode()).hexdigest()[:20]
    except Exception as exc:  # noqa: BLE001 - any failure here only means the slower LightGBM path
        log.warning("reranker_not_compiled", error=repr(exc)[:200])
        return None
    try:
        directory = Path(os.environ.get("QINGLANG_CACHE_DIR") or Path.home() / ".cache" / "qinglang")
        model = lleaves.Model(model_file=str(model_file))
        cached = _cached_object(directory, key)
        if cached is not None:
            model.compile(cache=str(cached))
            return model
        directory.mkdir(parents=True, exist_ok=True)
        # Written under a private name, then renamed with its digest: a reader never loads half a file.
        part = directory / f".reranker-{key}.{os.getpid()}.{threading.get_ident()}"
        try:
            model.compile(cache=str(part))
            digest = hashlib.sha256(part.read_bytes()).hexdigest()[:16]
            os.replace(part, directory / f"reranker-{key}-{digest}.o")
        finally:
            part.unlink(missing_ok=True)
        return model
    except Exception as exc:  # noqa: BLE001 - no home, an unwritable directory, an unusable cached file
        log.info("reranker_cache_unused", error=repr(exc)[:200])
    try:
        model = lleaves.Model(model_file=str(model_file))
        model.compile()
        return model
    except Exception as exc:  # noqa: BLE001
        log.warning("reranker_not_compiled", error=repr(exc)[:200])
        return None


def _cached_object(directory: Path, key: str) -> Path | None:
    """The cached object file for ``key`` whose contents match the digest in its name. Any other is removed and
    never handed to LLVM: a damaged object file aborts the whole process there, past any exception handler."""
    for path in sorted(directory.glob(f"reranker-{key}-*.o")):
        try:
            intact = hashlib.sha256(path.read_bytes()).hexdigest()[:16] == path.stem.rsplit("-", 1)[1]
        except OSError:
            intact = False
        if intact:
            return path
        path.unlink(missing_ok=True)
    return None


def default_scorer() -> Scorer:
    """The process-wide scorer from the shipped artefacts."""
    global _default
    with _lock:
        if _default is None:
            _default = load_scorer()
        return _default
