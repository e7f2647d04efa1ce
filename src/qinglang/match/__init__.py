"""Claim matching: find the published debunks a post, message or report repeats.

Hybrid lexical (BM25) + dense multilingual retrieval, a learned re-ranker and calibration. Domain code:
never imports ``qinglang.api`` or ``qinglang.web`` and never reads the store itself (the store hands it
``ClaimDoc``s; see ``store_source``).
"""

from __future__ import annotations

from qinglang.match.embedder import Embedder, get_embedder
from qinglang.match.index import ClaimIndex, NumpyIndex, UsearchIndex, make_index
from qinglang.match.matcher import Matcher
from qinglang.match.types import BANDS, ClaimDoc, MatchHit

__all__ = [
    "BANDS", "ClaimDoc", "ClaimIndex", "Embedder", "MatchHit", "Matcher", "NumpyIndex", "UsearchIndex",
    "get_embedder", "make_index",
]
