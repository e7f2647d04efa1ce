"""Row views: the vectorised pair features equal the set arithmetic they replace, and survive save/load."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from qinglang.match import ClaimDoc, Matcher
from qinglang.match.features import char_ngrams, numbers
from qinglang.match.matcher import _cached_tokens
from qinglang.match.rowviews import RowViews, gram_codes
from qinglang.text.normalize import normalize

ROWS = [
    "Drinking hot water with lemon every morning cures cancer",
    "Does lemon water cure cancer?",
    "The 2020 census counted 331 million people, 1.5 million more than expected",
    "喝柠檬水可以治愈癌症",
    "柠檬水治癌？",
    "5G towers spread the coronavirus in 2020",
    "ok",
    "",
    "Hot lemon water: a cure? Hot lemon water!",
]
QUERIES = [
    "My aunt says hot lemon water in the morning cures cancer, 100% true!!",
    "据说每天喝柠檬水能治愈癌症，是真的吗",
    "census 2020: 331 million people counted",
    "nothing in common here",
]


def _idf(token: str) -> float:
    return 1.0 + (sum(map(ord, token)) % 7) / 3.0


def _reference(query: str, row: int, others: list[tuple[int, bool]]) -> list[float]:
    """The PAIR features by plain set arithmetic (what the matcher computed before row views)."""
    q = list(_cached_tokens(query))
    q_set, q_bi = set(q), set(zip(q, q[1:], strict=False))
    q_norm_text = normalize(query)
    q_grams, q_nums = char_ngrams(q_norm_text, normalized=True), numbers(q_norm_text, normalized=True)
    q_weight = max(sum(_idf(t) for t in q_set), 1e-6)
    q_norm = max(math.sqrt(sum(_idf(t) ** 2 for t in q_set)), 1e-6)
    d = list(_cached_tokens(ROWS[row]))
    d_set, d_bi = set(d), set(zip(d, d[1:], strict=False))
    d_norm_text = normalize(ROWS[row])
    d_grams, d_nums = char_ngrams(d_norm_text, normalized=True), numbers(d_norm_text, normalized=True)
    shared = q_set & d_set
    w_shared = sum(_idf(t) for t in shared)
    covered = set(shared)
    t_cover = t_bigram = float("nan")
    for r, is_title in others:
        o = list(_cached_tokens(ROWS[r]))
        r_shared = q_set & set(o)
        covered |= r_shared
        if is_title:
            o_bi = set(zip(o, o[1:], strict=False))
            t_cover = sum(_idf(t) for t in r_shared) / q_weight
            t_bigram = len(q_bi & o_bi) / len(o_bi) if o_bi else 0.0
    return [
        w_shared / max(sum(_idf(t) for t in d_set), 1e-6), w_shared / q_weight,
        len(q_bi & d_bi) / len(d_bi) if d_bi else 0.0, len(q_grams & d_grams) / max(len(d_grams), 1),
        len(q_nums & d_nums), len(d_nums - q_nums),
        sum(_idf(t) ** 2 for t in shared) / (q_norm * max(math.sqrt(sum(_idf(t) ** 2 for t in d_set)), 1e-6)),
        len(q_grams & d_grams) / max(len(q_grams), 1), sum(_idf(t) for t in covered) / q_weight, t_cover, t_bigram,
    ]


def _views(keys: list[int]) -> RowViews:
    v = RowViews()
    v.put(keys, [list(_cached_tokens(ROWS[k])) for k in keys], [normalize(ROWS[k]) for k in keys])
    return v


@pytest.mark.parametrize("query", QUERIES)
def test_overlaps_equal_set_arithmetic(query: str) -> None:
    # Rows put out of key order and in two calls, as a loaded matcher and later publications do.
    v = _views([8, 0, 3])
    v.put([1, 2, 4, 5, 6, 7], [list(_cached_tokens(ROWS[k])) for k in (1, 2, 4, 5, 6, 7)],
          [normalize(ROWS[k]) for k in (1, 2, 4, 5, 6, 7)])
    # Candidates: (best row, [(other row, is title), ...]).
    cands = [(0, [(1, True), (8, False)]), (3, [(4, True)]), (2, []), (5, [(6, False), (7, True)]), (7, []), (6, [])]
    # The same candidates for every query, all in one call (as the matcher batches texts), this one last.
    others = [(r, c, t) for c, (_, os) in enumerate(cands) for r, t in os]
    batch = [*QUERIES, query]
    qs = [v.query(list(_cached_tokens(b)), gram_codes(normalize(b)), frozenset(numbers(normalize(b), normalized=True)))
          for b in batch]
    sets = [set(_cached_tokens(b)) for b in batch]
    q_of = np.repeat(np.arange(len(batch)), len(cands))
    n = len(cands)
    got = v.overlaps(
        qs, q_of, lambda ids: np.asarray([_idf(v.terms[i]) for i in ids.tolist()], dtype=np.float64),
        np.asarray([max(sum(_idf(t) for t in q_set), 1e-6) for q_set in sets]),
        np.asarray([max(math.sqrt(sum(_idf(t) ** 2 for t in q_set)), 1e-6) for q_set in sets]),
        np.tile(np.asarray([c[0] for c in cands], dtype=np.int64), len(batch)),
        np.tile(np.asarray([o[0] for o in others], dtype=np.int64), len(batch)),
        np.concatenate([np.asarray([o[1] for o in others], dtype=np.int64) + n * b for b in range(len(batch))]),
        np.tile(np.asarray([o[2] for o in others], dtype=bool), len(batch)))
    want = np.asarray([_reference(b, row, os) for b in batch for row, os in cands])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_gram_codes_are_the_character_trigrams() -> None:
    for text in ROWS + QUERIES + ["𠀋𠀌𠀍 emoji 😀😀😀", "ab"]:
        norm = normalize(text)
        assert len(gram_codes(norm)) == len(char_ngrams(norm, normalized=True))


def test_save_load_keeps_views(tmp_path: Path) -> None:
    v = _views(list(range(len(ROWS))))
    v.save(tmp_path / "views.npz")
    w = RowViews.load(tmp_path / "views.npz")
    keys = np.arange(len(ROWS), dtype=np.int64)
    assert w.terms == v.terms and w.size == v.size
    assert w.nums.many(keys) == v.nums.many(keys) and any(v.nums.many(keys))
    assert (w.num_count[keys] == v.num_count[keys]).all()
    for name in ("toks", "bigrams", "grams"):
        for a, b in zip(getattr(v, name).gather(keys), getattr(w, name).gather(keys), strict=True):
            assert np.array_equal(a, b)


def test_matcher_features_survive_save_load_and_old_directories(tmp_path: Path) -> None:
    docs = [ClaimDoc(f"d{i}", text, (), "", "zh" if i in (3, 4) else "en") for i, text in enumerate(ROWS) if text]
    m = Matcher(docs[:4])
    m.upsert(docs[4:])  # in the delta
    m.remove(["d2"])
    m.save(tmp_path / "m")
    loaded = Matcher.load(tmp_path / "m")
    (tmp_path / "m" / "views.npz").unlink()  # a directory saved before row views existed
    rebuilt = Matcher.load(tmp_path / "m")
    for query in QUERIES:
        ref = m.candidates_many([query])[0]
        for other in (loaded, rebuilt):
            c = other.candidates_many([query])[0]
            assert c.ids == ref.ids
            np.testing.assert_array_equal(np.nan_to_num(c.x, nan=-9), np.nan_to_num(ref.x, nan=-9))
    loaded.upsert([ClaimDoc("new", "Hot lemon water cures cancer overnight, doctors say")])
    assert loaded.match(QUERIES[0], top_k=1)[0].id in {"new", "d0"}
