"""The shared text features: the batched hashing gives exactly the columns of scikit-learn's HashingVectorizer."""

from __future__ import annotations

import numpy as np

from qinglang.triage.features import CHAR_FEATURES, Featurizer, _char_hashed, _hashed, prepare

TEXTS = ["冒充公安局：你的账户涉嫌洗钱，请转账到安全账户 6222021234567890",
         "URGENT: Your Account is SUSPENDED, verify at https://x.example/login within 10 minutes",
         "刷单返利日结300元，扫码进群，宝妈都在做 #兼职#", "", "   ", "ａｂｃ 123", "a", "今天天气很好"]


def test_batched_hashing_equals_the_vectorizer() -> None:
    f = Featurizer()
    prepared = [prepare(t) for t in TEXTS]
    for vec in (f._char(), f._word()):
        want = vec.transform(prepared)
        got = _hashed(vec, prepared)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert (got != want).nnz == 0
        np.testing.assert_array_equal(got.indptr, want.indptr)
    x = f.transform(TEXTS)
    assert x.shape == (len(TEXTS), f.n_features) and x[0].nnz > 0 and x[3].nnz == 0


def test_numpy_character_ngram_hashing_equals_the_vectorizer() -> None:
    # Texts of every UTF-8 length (1-4 bytes per character), whitespace runs the analyser folds, single characters
    # a tab or newline it keeps, empty and very short texts, and n-grams of 1-12 bytes.
    rng = np.random.default_rng(3)
    alphabet = list("abcxyz0129 #.\t\n") + ["中", "文", "é", "😀", "𠀀", "ß", "Ω", "\u200b", "ｆ"]
    texts = [*TEXTS, *("".join(rng.choice(alphabet, size=int(rng.integers(0, 40)))) for _ in range(400))]
    f = Featurizer()
    for docs in (texts, [prepare(t) for t in texts], ["a"], [""], []):
        want = f._char().transform(docs).tocsr() if docs else None
        got = _char_hashed(docs, CHAR_FEATURES, f.char_ngrams)
        assert got.shape == (len(docs), CHAR_FEATURES) and got.dtype == np.float32
        if want is not None:
            assert (got != want).nnz == 0
            assert got.has_canonical_format


def test_tfidf_without_validation_equals_the_transformer() -> None:
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    from qinglang.triage.linear import LinearTextModel, tfidf

    x = Featurizer().transform(TEXTS * 3)
    transformer = TfidfTransformer(sublinear_tf=True).fit(x)
    transformer.idf_ = transformer.idf_.astype(np.float32)  # as the models keep it
    want = transformer.transform(x)
    got = tfidf(transformer, x)
    assert got.dtype == want.dtype and (got != want).nnz == 0 and x.data.min() >= 1.0  # the input is untouched
    plain = TfidfTransformer().fit(x)  # not sublinear: the transformer's own transform
    assert (tfidf(plain, x) != plain.transform(x)).nnz == 0
    labels = ["1" if i % 3 else "0" for i in range(x.shape[0])]
    nb = LinearTextModel(weighting="nb").fit(x, labels)
    assert nb._nb_r is not None
    want_nb = normalize((x > 0).astype(np.float32).multiply(nb._nb_r).tocsr())
    assert (nb.weighted(x) != want_nb).nnz == 0
