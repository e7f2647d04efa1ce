"""Embedding ahead in a helper process gives the same vectors as embedding in this process."""

from __future__ import annotations

import numpy as np

from qinglang.match import ClaimDoc, Matcher
from qinglang.match.scan import EmbedAhead, scan_batch


def test_embed_ahead_helper_matches_local_embedding() -> None:
    m = Matcher([ClaimDoc("salt", "Gargling salt water cures the flu"), ClaimDoc("5g", "5G towers spread viruses")])
    texts = ["salt water gargle cures flu, doctors say", "5G 基站传播病毒", "nothing to see here"]
    ahead = EmbedAhead(m)
    try:
        local = ahead.submit(texts)()  # before the helper is up: embedded on a thread here
        assert ahead._ready is not None
        ahead._ready.result(timeout=60)
        remote = ahead.submit(texts)()  # now in the helper process
    finally:
        ahead.close()
    assert np.allclose(local, m.embed(texts), atol=1e-5) and np.allclose(remote, local, atol=1e-4)
    assert scan_batch(m, texts, vectors=remote)[0][0]["id"] == "salt"
