"""Per-row views for the pair features, encoded once per row: token ids, token-bigram and character-3-gram codes.

The overlap features compare a text with rows of its candidate debunks. Tokenising a row, normalising it and
cutting it into n-grams on demand cost more than all the rest of matching whenever the rows were new to the
process (a large pool, a bulk scan, a freshly started server). So each row is encoded when it is published into
flat, append-only integer arrays (about 1 kB a row), and the features of a whole shortlist are a few
vectorised set intersections (`overlaps`). The values are exactly those of the set arithmetic they replace.

Readers never lock: `put` writes past the end that readers know of, and swaps in larger arrays when needed.
Never embeds, never touches the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qinglang.arrays import contains, salted
from qinglang.match.columns import Flat, Strings
from qinglang.match.features import _NOSPACE, numbers

if TYPE_CHECKING:
    from qinglang.match.lexical import LexicalIndex

_I64 = np.zeros(0, dtype=np.int64)
_SLICE = 4096


def gram_codes(norm: str) -> np.ndarray:
    """Sorted distinct codes of the character 3-grams of a normalised text without spaces and punctuation (the
    set ``features.char_ngrams`` makes): three 21-bit code points in one int64, so equal codes are equal grams."""
    t = _NOSPACE.sub("", norm)
    if len(t) < 3:
        return _I64
    a = np.frombuffer(t.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    return np.unique((a[:-2] << 42) | (a[1:-1] << 21) | a[2:])


def _sorted_in(values: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``values`` occur in the sorted array ``sorted_ref``."""
    return contains(sorted_ref, values)


@dataclass(frozen=True)
class QueryView:
    """A text's side of the pair features, in the code spaces of a `RowViews`."""

    tok_ids: np.ndarray  # sorted distinct ids of the text's tokens that occur in some row
    bigrams: np.ndarray  # sorted distinct codes of its token bigrams whose two tokens occur in some row
    grams: np.ndarray  # sorted distinct character 3-gram codes
    nums: frozenset[str]


class RowViews:
    """Token ids, token-bigram codes, 3-gram codes and numbers of every row, by row key."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.terms: list[str] = []
        self.toks = Flat(np.int32)
        self.bigrams = Flat(np.int64)
        self.grams = Flat(np.int64)
        self.nums = Strings()  # a row's distinct numbers, sorted and joined by spaces (None: it has none)
        self.num_count = np.zeros(1024, dtype=np.int32)  # how many distinct numbers by key, 0 without numbers
        self.size = 0  # one past the largest key put

    def put(self, keys: Sequence[int], token_lists: Sequence[Sequence[str]], norms: Sequence[str]) -> None:
        """Encode rows: their match tokens (in order, as the lexical index has them) and normalised texts."""
        # Room for all at once (upper bounds: a token and a bigram per token, a 3-gram per character), then
        # in slices, so that a bulk build of a large pool holds few small temporary arrays at a time.
        self.toks.reserve(sum(map(len, token_lists)))
        self.bigrams.reserve(sum(map(len, token_lists)))
        self.grams.reserve(sum(map(len, norms)))
        top = max(keys, default=-1)
        if top >= len(self.num_count):
            grown = np.zeros(max(2 * len(self.num_count), top + 1), dtype=np.int32)
            grown[: len(self.num_count)] = self.num_count
            self.num_count = grown
        for k in range(0, len(keys), _SLICE):
            self._put(keys[k : k + _SLICE], token_lists[k : k + _SLICE], norms[k : k + _SLICE])
        self.size = max(self.size, top + 1)

    def token_set(self, key: int) -> frozenset[str]:
        """The distinct match tokens of row ``key``."""
        start, n, terms = int(self.toks.start[key]), int(self.toks.length[key]), self.terms
        return frozenset(terms[i] for i in self.toks.data[start : start + n].tolist())

    def _put(self, keys: Sequence[int], token_lists: Sequence[Sequence[str]], norms: Sequence[str]) -> None:
        vocab, terms = self.vocab, self.terms
        tok_arrays, bi_arrays, gram_arrays = [], [], []
        num_keys, num_values = [], []
        for key, toks, norm in zip(keys, token_lists, norms, strict=True):
            ids = []
            for t in toks:
                i = vocab.get(t)
                if i is None:
                    i = vocab[t] = len(terms)
                    terms.append(t)
                ids.append(i)
            a = np.asarray(ids, dtype=np.int64)
            tok_arrays.append(np.unique(a).astype(np.int32))
            bi_arrays.append(np.unique((a[:-1] << 32) | a[1:]) if len(a) > 1 else _I64)
            gram_arrays.append(gram_codes(norm))
            nums = numbers(norm, normalized=True)
            if nums:
                distinct = sorted(set(nums))
                num_keys.append(int(key))
                num_values.append(" ".join(distinct))
                self.num_count[key] = len(distinct)
        self.nums.put(num_keys, num_values)
        self.toks.put(keys, tok_arrays)
        self.bigrams.put(keys, bi_arrays)
        self.grams.put(keys, gram_arrays)

    def query(self, toks: Sequence[str], grams: np.ndarray, nums: frozenset[str]) -> QueryView:
        """``grams``: `gram_codes` of the normalised text."""
        vocab = self.vocab
        ids = [vocab.get(t, -1) for t in toks]
        known = sorted({i for i in ids if i >= 0})  # a text's few ids: a set costs less than np.unique
        pairs = sorted({(a << 32) | b for a, b in zip(ids, ids[1:], strict=False) if a >= 0 and b >= 0})
        return QueryView(np.asarray(known, dtype=np.int64), np.asarray(pairs, dtype=np.int64), grams, nums)

    def overlaps(
        self, qs: Sequence[QueryView], q_of: np.ndarray, idf: Callable[[np.ndarray], np.ndarray],
        q_weight: np.ndarray, q_norm: np.ndarray, rows: np.ndarray, others: np.ndarray, other_of: np.ndarray,
        other_title: np.ndarray,
    ) -> np.ndarray:
        """The ``features.PAIR`` columns for candidates of many texts at once: candidate ``i`` is of text
        ``qs[q_of[i]]`` (``q_weight``/``q_norm``: per text) and its best lexical row is ``rows[i]``; ``others`` are
        the candidates' debunks' other rows in the text's script (``other_of``: the candidate each belongs to;
        ``other_title``: is it the title). ``idf`` maps token ids to idf values."""
        n = len(rows)
        out = np.zeros((n, 11), dtype=np.float64)
        if not n:
            return out
        # Each text's sets as one sorted array: token ids prefixed by the text, n-gram codes salted by it.
        owner = np.arange(len(qs))
        q_toks = np.concatenate([(t << 32) | q.tok_ids for t, q in zip(owner.tolist(), qs, strict=True)])
        q_bi = np.sort(salted(np.concatenate([q.bigrams for q in qs]), np.repeat(owner, [len(q.bigrams) for q in qs])))
        n_grams = np.asarray([len(q.grams) for q in qs], dtype=np.int64)
        q_gr = np.sort(salted(np.concatenate([q.grams for q in qs]), np.repeat(owner, n_grams)))
        qw, qn = q_weight[q_of], q_norm[q_of]

        tok, seg = self.toks.gather(rows)
        w = idf(tok)
        hit = _sorted_in((q_of[seg] << 32) | tok, q_toks)
        wh = np.where(hit, w, 0.0)
        w_shared = np.bincount(seg, wh, minlength=n)
        weight = np.bincount(seg, w, minlength=n)
        cos = np.bincount(seg, wh * wh, minlength=n) / (qn * np.maximum(np.sqrt(np.bincount(seg, w * w, n)), 1e-6))
        bi, bseg = self.bigrams.gather(rows)
        b_len = self.bigrams.lengths(rows)
        b_shared = np.bincount(bseg, _sorted_in(salted(bi, q_of[bseg]), q_bi), minlength=n)
        gr, gseg = self.grams.gather(rows)
        g_shared = np.bincount(gseg, _sorted_in(salted(gr, q_of[gseg]), q_gr), minlength=n)
        g_len = self.grams.lengths(rows)
        out[:, 0] = w_shared / np.maximum(weight, 1e-6)
        out[:, 1] = w_shared / qw
        out[:, 2] = np.where(b_len > 0, b_shared / np.maximum(b_len, 1), 0.0)
        out[:, 3] = g_shared / np.maximum(g_len, 1)
        out[:, 5] = self.num_count[rows]  # numbers of the row missing from the text, corrected below if it has any
        has_nums = np.asarray([bool(q.nums) for q in qs], dtype=bool)
        both = np.flatnonzero((out[:, 5] > 0) & has_nums[q_of])
        for i, row_nums in zip(both.tolist(), self.nums.many(rows[both]), strict=True):
            shared = len(qs[int(q_of[i])].nums.intersection((row_nums or "").split(" ")))
            out[i, 4], out[i, 5] = shared, out[i, 5] - shared
        out[:, 6] = cos
        out[:, 7] = g_shared / np.maximum(n_grams[q_of], 1)
        # The text's terms covered by all the debunk's rows in its script together, and by its title alone.
        o_tok, o_seg = self.toks.gather(others)
        o_cand = other_of[o_seg]
        o_hit = _sorted_in((q_of[o_cand] << 32) | o_tok, q_toks)
        span = max(len(self.terms), 1)
        covered = np.unique(np.concatenate((seg[hit] * span + tok[hit], o_cand[o_hit] * span + o_tok[o_hit])))
        out[:, 8] = np.bincount(covered // span, idf(covered % span), minlength=n) / qw
        out[:, 9:] = np.nan
        if other_title.any():
            titles = others[other_title]
            t_cand = other_of[other_title]
            t_row = np.flatnonzero(other_title)
            per_other = np.bincount(o_seg, np.where(o_hit, idf(o_tok), 0.0), minlength=len(others))
            out[t_cand, 9] = per_other[t_row] / qw[t_cand]
            tb, tseg = self.bigrams.gather(titles)
            tb_len = self.bigrams.lengths(titles)
            tb_shared = np.bincount(tseg, _sorted_in(salted(tb, q_of[t_cand][tseg]), q_bi), minlength=len(titles))
            out[t_cand, 10] = np.where(tb_len > 0, tb_shared / np.maximum(tb_len, 1), 0.0)
        return out

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        # Tokens never hold a newline (they are cut at white space), numbers are digits and separators.
        arrays: dict[str, Any] = {"terms": _blob("\n".join(self.terms)),
                                         "n_terms": np.asarray([len(self.terms)], dtype=np.int64)}
        for name, flat in (("toks", self.toks), ("bigrams", self.bigrams), ("grams", self.grams)):
            arrays.update({f"{name}_{k}": v for k, v in flat.arrays(self.size).items()})
        keys = np.flatnonzero(self.num_count[: self.size])
        arrays["num_keys"] = keys.astype(np.int64)
        arrays["num_values"] = _blob("\n".join(s or "" for s in self.nums.many(keys)))
        with Path(path).open("wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> RowViews:
        z = np.load(path)
        v = cls()
        text = bytes(z["terms"]).decode("utf-8")
        v.terms = text.split("\n") if int(z["n_terms"][0]) else []
        v.vocab = {t: i for i, t in enumerate(v.terms)}
        v.toks = Flat.from_arrays(z["toks_data"], z["toks_start"], z["toks_length"])
        v.bigrams = Flat.from_arrays(z["bigrams_data"], z["bigrams_start"], z["bigrams_length"])
        v.grams = Flat.from_arrays(z["grams_data"], z["grams_start"], z["grams_length"])
        nums = bytes(z["num_values"]).decode("utf-8")
        num_keys, num_values = z["num_keys"].tolist(), nums.split("\n") if nums else []
        v.nums.put(num_keys, num_values)
        v.size = len(v.toks.start)
        v.num_count = np.zeros(max(v.size, 1024), dtype=np.int32)
        v.num_count[np.asarray(num_keys, dtype=np.int64)] = [len(s.split(" ")) for s in num_values]
        return v


def _blob(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


class IdfTable:
    """Idf values by token id, filled on demand from the lexical index and dropped when that index changes."""

    def __init__(self) -> None:
        self._state: tuple[LexicalIndex, int, np.ndarray] | None = None

    def values(self, ids: np.ndarray, lex: LexicalIndex, terms: list[str]) -> np.ndarray:
        """Idf of the tokens ``ids`` (ids into ``terms``) in ``lex`` as it is now."""
        state = self._state
        if state is None or state[0] is not lex or state[1] != lex.version or len(state[2]) < len(terms):
            state = self._state = (lex, lex.version, np.full(max(len(terms), 1024), np.nan))
        table = state[2]
        vals = table[ids]
        missing = np.isnan(vals)
        if missing.any():
            for i in np.unique(ids[missing]).tolist():
                table[i] = lex.idf(terms[i])
            vals = table[ids]
        return vals

