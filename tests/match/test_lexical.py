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
        every_key = list(range(len(docs))) + [5000, 5001, 99999]
        for q, lex in zip(queries, got, strict=True):
            one = idx.scores(q)
            order = np.argsort(lex.main_keys)  # a batch's rows come in no particular order
            assert lex.main_keys[order].tolist() == one.main_keys.tolist(), q
            np.testing.assert_allclose(lex.main_scores[order], one.main_scores, rtol=1e-6)
            assert lex.delta == one.delta
            assert 3 not in lex.main_keys.tolist() and 17 not in lex.main_keys.tolist()
            np.testing.assert_allclose(lex.lookup(every_key), one.lookup(every_key), rtol=1e-6)
            assert [k for k, _ in lex.top(7)] == [k for k, _ in one.top(7)], q
        # the lookups left the scratch sums clean: a query scored afterwards is unchanged
        np.testing.assert_array_equal(idx.scores(["w1", "w7"]).main_scores, idx.scores(["w1", "w7"]).main_scores)
        assert not idx._main._scratch().any()
    assert idx.scores_many([]) == []


def test_top_breaks_ties_by_key_whatever_the_row_order() -> None:
    from qinglang.match.lexical import LexScores

    keys = np.array([40, 10, 30, 20, 50])
    scores = np.array([1.0, 2.0, 2.0, 2.0, 0.0], dtype=np.float32)
    for perm in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]):
        lex = LexScores(keys[perm], scores[perm], {60: 2.0})
        assert lex.top(3) == [(10, 2.0), (20, 2.0), (30, 2.0)]
        assert lex.top(5) == [(10, 2.0), (20, 2.0), (30, 2.0), (60, 2.0), (40, 1.0)]


def test_common_terms_cut_to_their_heads_still_give_exact_scores_and_the_best_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from qinglang.match import lexical

    monkeypatch.setattr(lexical, "RESCORE", 24)
    monkeypatch.setattr(lexical, "HEAD_MIN_POSTINGS", 0)  # every query with a cut term goes through the heads
    rng = np.random.default_rng(11)
    common = [f"c{i}" for i in range(6)]  # each in about half of the rows: cut to 32 postings below
    docs = [[common[int(j)] for j in rng.integers(0, 6, size=3)] + [f"r{int(j)}" for j in rng.integers(0, 900, size=2)]
            + ["pad"] * int(rng.integers(0, 6)) for _ in range(1500)]
    keys = list(range(10, 10 + len(docs)))
    idx = LexicalIndex(keys, docs)
    idx.remove([keys[7]])
    exact = LexicalIndex(keys, docs)
    exact.remove([keys[7]])
    exact.set_head(0)
    idx.set_head(32)
    bm25 = idx._main.bm25
    assert bm25 is not None
    queries = [["c0", "c1", "r5"], ["c2", "r17", "r17", "c3"], ["c4", "c5"], ["r300"], ["c0", docs[7][3]]]
    every_key = keys + [99999]
    batch = idx.scores_many(queries)
    for q, lex in zip(queries, batch, strict=True):
        full = exact.scores(q)
        one = idx.scores(q)
        cut = any(t in common for t in q)
        assert (one.terms is not None) == cut and (lex.terms is not None) == cut, q
        assert len(one.main_keys) <= (24 if cut else len(full.main_keys))
        # every score handed out is the row's exact score, also for rows off the list and for removed rows (0)
        want = full.lookup(every_key)
        assert want[keys.index(keys[7])] == 0.0
        np.testing.assert_allclose(one.lookup(every_key), want, rtol=1e-5)
        np.testing.assert_allclose(lex.lookup(every_key), want, rtol=1e-5)
        np.testing.assert_allclose(one.main_scores, full.lookup(one.main_keys.tolist()), rtol=1e-5)
        assert keys[7] not in one.main_keys.tolist()
        # the best rows: those that share a rare term come through its whole posting list
        rare = {keys[i] for i, d in enumerate(docs) if i != 7 and set(d) & {t for t in q if t.startswith("r")}}
        if rare:
            top = dict(one.top(len(rare)))
            assert set(top) == rare, q
            assert [k for k, _ in one.top(len(rare))] == [k for k, _ in full.top(len(rare))], q
        assert [k for k, _ in lex.top(10)] == [k for k, _ in one.top(10)], q
    # the lookups of a whole batch at once (cut lists scored together) are each text's own
    keys_of = [np.asarray(every_key[j::3], dtype=np.int64) for j in range(len(queries))]
    bounds = np.concatenate(([0], np.cumsum([len(k) for k in keys_of]))).tolist()
    together = lexical.lookup_many([*batch[:-1], None], np.concatenate(keys_of), bounds)
    for j, lex in enumerate(batch):
        want = lex.lookup(keys_of[j].tolist()) if j < len(batch) - 1 else np.zeros(len(keys_of[j]))
        np.testing.assert_allclose(together[bounds[j] : bounds[j + 1]], want, rtol=1e-6)
    assert not idx._main._scratch().any() and not idx._main._term_weights().any()
    # a query with few postings in all is summed whole even when one of its terms was cut
    monkeypatch.setattr(lexical, "HEAD_MIN_POSTINGS", 10_000)
    small = [["c0", "r5"], ["r17", "c2"], ["c0", "r5"]]
    for q, lex in zip([small[0], *small], [idx.scores(small[0]), *idx.scores_many(small)], strict=True):
        assert lex.terms is None  # alone, and in a batch (one product over every posting, not the heads)
        np.testing.assert_allclose(lex.lookup(every_key), exact.scores(q).lookup(every_key), rtol=1e-5)


def test_the_rows_rescored_are_the_best_head_sums_ties_to_the_lower_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled heads path (`lexsums.heads_rescored`) keeps the RESCORE rows with the highest sums over the
    heads, and at a tie the lower rows: checked against the same selection made with SciPy and NumPy."""
    import scipy.sparse as sp

    from qinglang.match import lexical

    monkeypatch.setattr(lexical, "RESCORE", 20)
    monkeypatch.setattr(lexical, "HEAD_MIN_POSTINGS", 0)
    rng = np.random.default_rng(3)
    common = [f"c{i}" for i in range(4)]
    # Many identical rows (equal sums: ties at the cut) among varied ones.
    docs = [["c0", "c1", "pad"] if i % 3 == 0 else [common[int(j)] for j in rng.integers(0, 4, size=3)]
            + [f"r{int(j)}" for j in rng.integers(0, 50, size=2)] for i in range(900)]
    idx = LexicalIndex(list(range(len(docs))), docs)
    idx.set_head(64)
    main = idx._main
    heads = main._heads()
    straddled = 0
    for q in (["c0", "c1"], ["c1", "c0", "c0", "r3"], ["c2", "c3", "r7"]):
        ids = main.bm25.get_tokens_ids(q)  # type: ignore[union-attr]
        got = idx.scores_many([q, ["c3"]])[0]
        assert got.terms is not None
        qm = sp.csr_matrix((np.ones(len(ids), dtype=np.float32), (np.zeros(len(ids), dtype=np.int64), ids)),
                           shape=(1, heads.shape[0]))
        sums = np.asarray((qm @ heads).todense(), dtype=np.float32).ravel()
        touched = np.flatnonzero(sums)
        order = np.lexsort((touched, -sums[touched]))  # highest sum first, ties: the lower row
        want = np.sort(touched[order[:20]])
        assert got.main_keys.tolist() == want.tolist(), q
        kth = sums[touched[order[19]]]
        straddled += int((sums[touched] == kth).sum() > (sums[want] == kth).sum())  # a tie cut in two
    assert straddled


def _delta_reference(idx: LexicalIndex, q: list[str]) -> dict[int, float]:
    """BM25 of every delta row as the index scored its delta before it kept postings: a pass over all its rows."""
    from qinglang.match.lexical import K1, B, _idf

    main, delta = idx._main, idx._delta
    n = main.n + len(delta)
    avgdl = (float(main.lengths.sum()) + sum(sum(tf.values()) for tf in delta.values())) / max(n, 1)
    idf = {t: _idf(main.df.get(t, 0) + idx._delta_df.get(t, 0), n) for t in set(q)}
    out = {}
    for key, tf in delta.items():
        dl, s = sum(tf.values()), 0.0
        for t in q:
            f = tf.get(t, 0)
            if f:
                s += idf[t] * f * (K1 + 1) / (f + K1 * (1 - B + B * dl / avgdl))
        out[key] = s
    return out


def test_the_delta_scores_the_rows_sharing_a_term_exactly_through_adds_and_removes() -> None:
    docs = _corpus()
    idx = LexicalIndex(range(len(docs)), docs)
    more = _corpus(60)
    idx.add(range(9000, 9060), more)
    idx.remove([9003, 9010, 12])
    idx.add([9010, 9100], [["w1", "w1", "w2"], ["fresh", "w7"]])  # a removed key back, and a new one
    d = idx._d
    assert set(d.lens) == set(d.tf) and d.total == sum(d.lens.values())
    assert {t: set(ks) for t, ks in d.post.items()} == {
        t: {k for k, tf in d.tf.items() if t in tf} for t in {t for tf in d.tf.values() for t in tf}}
    for q in (["w1", "w7"], ["w3", "w3", "w250"], ["fresh"], ["absent"], ["w1", "fresh", "w1"]):
        want = _delta_reference(idx, q)
        got = idx.scores(q).delta
        assert got == {k: s for k, s in want.items() if s > 0}, q  # the same floats; rows sharing no term left out
        keys = sorted(want)
        np.testing.assert_array_equal(idx.scores(q).lookup(keys), np.asarray([want[k] for k in keys], np.float32))
