"""`gathering.gather_candidates`: a batch's candidates as `Matcher` took them text by text before."""

from __future__ import annotations

import numpy as np

from qinglang.match.gathering import gather_candidates
from qinglang.match.lexical import LexScores


def test_the_lexical_top_list_is_lexscores_top_and_candidates_come_once_in_order() -> None:
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
        want = lex.top(k)
        assert top_keys[top_ptr[t] : top_ptr[t + 1]].tolist() == [key for key, _ in want]
        assert np.allclose(top_scores[top_ptr[t] : top_ptr[t + 1]], [s for _, s in want])
        rows = [r for r in [*dense[t].tolist(), *(key for key, _ in want)] if 0 <= r < len(first)]
        owners = [int(first[r]) for r in rows if first[r] >= 0] + windows[t].tolist()
        assert cands[cand_ptr[t] : cand_ptr[t + 1]].tolist() == list(dict.fromkeys(owners))
