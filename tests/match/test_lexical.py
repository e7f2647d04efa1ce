"""BM25 scoring of the lexical index against bm25s's own full scoring."""

from __future__ import annotations

import numpy as np
import pytest

from qinglang.match.lexical import LexicalIndex


def _corpus(n: int = 400) -> list[list[str]]:
    rng = np.random.default_rng(5)
    vocab = [f"w{i}" for i in range(300)]
    return [[vocab[int(j)] for j in rng.integers(0, len(vocab), size=int(rng.integers(3, 12)))] for _ in range(n)]


def test_posting_list_scores_equal_full_scoring_and_leave_no_residue() -> None:
    docs = _corpus()
    keys = list(range(1000, 1000 + len(docs)))
    idx = LexicalIndex(keys, docs)
    bm25 = idx._main.bm25
    assert bm25 is not None
    for q in (["w1", "w7"], ["w3", "w3", "w250"], ["w9"], ["w1", "w7"], ["absent", "w42"]):
        got = idx.scores(q)
        full = np.asarray(bm25.get_scores_from_ids(bm25.get_tokens_ids(q)), dtype=np.float32)
        want = np.flatnonzero(full)
        assert got.main_keys.tolist() == [keys[i] for i in want]  # ascending, only rows that share a term
        np.testing.assert_allclose(got.main_scores, full[want], rtol=1e-5)
        assert not got.delta
    # a repeated query gives the same scores (the scratch sums were cleared)
    a, b = idx.scores(["w1", "w7"]), idx.scores(["w1", "w7"])
    np.testing.assert_array_equal(a.main_scores, b.main_scores)


def test_removed_rows_do_not_score() -> None:
    docs = _corpus()
    idx = LexicalIndex(range(len(docs)), docs)
    hit = idx.scores(["w5"]).main_keys
    assert len(hit) > 1
    idx.remove([int(hit[0])])
    assert int(hit[0]) not in idx.scores(["w5"]).main_keys.tolist()


def test_batched_scores_equal_one_query_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from qinglang.match import lexical

    docs = _corpus()
    idx = LexicalIndex(range(len(docs)), docs)
    idx.remove([3, 17])
    idx.add([5000, 5001], [["w1", "w2", "w2"], ["w7", "new"]])
    queries = [["w1", "w7"], [], ["w3", "w3", "w250"], ["absent"], ["w9"], ["new", "w1"]] + [
        [f"w{i}", f"w{i + 1}", f"w{(i * 7) % 300}"] for i in range(0, 280, 9)]
    for budget in (lexical.BATCH_POSTINGS, 25):  # one product, and many small groups
        monkeypatch.setattr(lexical, "BATCH_POSTINGS", budget)
        got = idx.scores_many(queries)
        assert len(got) == len(queries)
        for q, lex in zip(queries, got, strict=True):
            one = idx.scores(q)
            assert lex.main_keys.tolist() == one.main_keys.tolist(), q
            np.testing.assert_allclose(lex.main_scores, one.main_scores, rtol=1e-6)
            assert lex.delta == one.delta
            assert 3 not in lex.main_keys.tolist() and 17 not in lex.main_keys.tolist()
    assert idx.scores_many([]) == []
