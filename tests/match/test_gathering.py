"""`gathering.gather_candidates`: a batch's candidates as `Matcher` took them text by text before."""

from __future__ import annotations

import numpy as np

from qinglang.match.gathering import gather_candidates
from qinglang.match.lexical import LexScores
from qinglang.match.lexsums import best_positions


def test_the_lexical_top_list_is_the_k_best_by_score_then_key_and_candidates_come_once_in_order() -> None:
    rng = np.random.default_rng(4)
    k = 6
    lexes = []
    for t in range(40):
        n = int(rng.integers(0, 30))
        keys = rng.permutation(200)[:n].astype(np.int64)
        scores = rng.choice(np.array([0.0, 0.5, 1.25, 2.0, 3.5], dtype=np.float32), size=n)  # many ties, some 0
        delta = {int(300 + j): float(rng.choice([0.5, 2.0, 2.0000001, 0.0])) for j in range(t % 3)}
        lexes.append(LexScores(keys, scores, delta))
    first = np.arange(400, dtype=np.int64) // 2 * 2  # two rows per debunk: a debunk is named by its even row
    first[7] = -1  # a withdrawn row is no candidate
    dense = rng.integers(-1, 420, size=(len(lexes), 5)).astype(np.int64)  # -1 and rows past `first`: none
    parts = [(np.concatenate([x.main_keys, np.fromiter(x.delta, np.int64, len(x.delta))]),
              np.concatenate([x.main_scores.astype(np.float64), np.fromiter(x.delta.values(), np.float64,
                                                                            len(x.delta))])) for x in lexes]
    lex_ptr = np.concatenate(([0], np.cumsum([len(a) for a, _ in parts]))).astype(np.int64)
    windows = [np.array([int(rng.integers(0, 200)) * 2], dtype=np.int64) if t % 4 == 0 else np.zeros(0, np.int64)
               for t in range(len(lexes))]
    win_ptr = np.concatenate(([0], np.cumsum([len(w) for w in windows]))).astype(np.int64)
    cands, cand_ptr, top_keys, top_scores, top_ptr = gather_candidates(
        dense, lex_ptr, np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts]), k, first,
        win_ptr, np.concatenate(windows))
    for t, lex in enumerate(lexes):
        want = sorted([(int(key), float(s)) for key, s in zip(lex.main_keys, lex.main_scores, strict=True) if s > 0]
                      + [(key, s) for key, s in lex.delta.items() if s > 0], key=lambda x: (-x[1], x[0]))[:k]
        assert lex.top(k) == want
        assert top_keys[top_ptr[t] : top_ptr[t + 1]].tolist() == [key for key, _ in want]
        assert np.allclose(top_scores[top_ptr[t] : top_ptr[t + 1]], [s for _, s in want])
        rows = [r for r in [*dense[t].tolist(), *(key for key, _ in want)] if 0 <= r < len(first)]
        owners = [int(first[r]) for r in rows if first[r] >= 0] + windows[t].tolist()
        assert cands[cand_ptr[t] : cand_ptr[t + 1]].tolist() == list(dict.fromkeys(owners))


def test_best_positions_are_the_k_best_with_ties_to_the_lower_keys() -> None:
    """The one selection behind the heads path's rows and the lexical top lists."""
    rng = np.random.default_rng(6)
    for n, k in ((0, 3), (5, 10), (100, 1), (100, 30), (5000, 30), (40000, 7)):
        for scores in (rng.random(n).astype(np.float32), rng.integers(0, 20, size=n).astype(np.float32)):
            keys = rng.permutation(3 * n + 1)[:n].astype(np.int64)
            got = sorted(best_positions(keys, scores, k).tolist())
            if n <= k:
                assert got == list(range(n))
                continue
            want = np.lexsort((keys, -scores))[:k]  # best first, ties by key
            assert got == sorted(want.tolist())
