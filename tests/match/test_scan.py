"""Bulk scans: embedding ahead in a helper gives the same vectors; sharing the work with worker processes gives
the same hits, in input order, as one process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from qinglang.match import ClaimDoc, Matcher
from qinglang.match.scan import EmbedAhead, scan_batch, scan_file


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


def test_workers_share_batches_and_write_every_post_in_input_order(tmp_path: Path) -> None:
    m = Matcher([ClaimDoc("salt", "Gargling salt water cures the flu"), ClaimDoc("5g", "5G towers spread viruses"),
                 ClaimDoc("moon", "登月是在摄影棚里拍摄的")])
    base = ["salt water gargle cures flu", "5G 基站传播病毒", "the moon landing was staged in a studio",
            "登月是假的，在摄影棚拍的", "weather is nice today"]
    # 60 posts in batches of 8: pieces go to the workers and to this process. Every third post is one of the five
    # base texts, so 15 of them repeat an earlier post (answered from the cache when its first copy is written,
    # wherever that was matched).
    texts = [f"{base[i % 5]} {i}" if i % 3 else base[i % 5] for i in range(60)]
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps({"id": f"p{i}", "text": t}, ensure_ascii=False) + "\n"
                             for i, t in enumerate(texts)), encoding="utf-8")
    runs = {}
    threads = os.environ.get("OMP_NUM_THREADS")
    for workers in (1, 2, 3):
        out = tmp_path / f"w{workers}.jsonl"
        stats = scan_file(m, posts, out, workers=workers, batch=8)
        lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        # Batches are cut differently across processes, so floats may differ in the last bits: the weak hits' order
        # may too, the best hit's not.
        runs[workers] = [(x["id"], x["hits"][0]["id"], x["hits"][0]["band"]) for x in lines]
        assert (stats.posts, stats.cached) == (60, 15)
    assert [run[0] for run in runs[1]] == [f"p{i}" for i in range(60)]
    assert runs[2] == runs[1] and runs[3] == runs[1]
    assert os.environ.get("OMP_NUM_THREADS") == threads  # set to one thread for the scan only
    assert runs[1][0][1] == "salt" and runs[1][3][1] == "moon"
