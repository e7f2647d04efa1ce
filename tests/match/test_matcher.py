"""The hybrid matcher with the real embedding model on small hand-written pools."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qinglang.errors import Invalid
from qinglang.match import BANDS, ClaimDoc, Embedder, Matcher, get_embedder

POOL = [
    ClaimDoc("vinegar", "Drinking vinegar kills the coronavirus", ("喝醋能杀死新冠病毒",), "Does vinegar cure COVID?"),
    ClaimDoc("5g", "5G towers spread the coronavirus", (), "5G and COVID-19"),
    ClaimDoc("bananas", "Bananas imported from Ecuador carry a flesh-eating bacteria"),
    ClaimDoc("moon", "The moon landing in 1969 was filmed in a studio", (), "Was the moon landing faked?"),
    ClaimDoc("salt", "食用碘盐可以预防核辐射", ("吃碘盐能防辐射",), "碘盐防辐射？", lang="zh"),
    ClaimDoc("alarm", "空调开一整夜会导致人中毒死亡", (), "", lang="zh"),
    ClaimDoc("pension", "The government will stop paying pensions to people over 80 next year"),
    ClaimDoc("eclipse", "Looking at a solar eclipse through sunglasses is safe"),
]


class CountingEmbedder(Embedder):
    """Wraps the real model and counts calls, to prove loads do not re-embed."""

    def __init__(self) -> None:
        self.inner = get_embedder()
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(POOL)


def _top(m: Matcher, text: str) -> str:
    hits = m.match(text, top_k=3)
    assert hits, text
    return hits[0].id


def test_lexical_hit_with_shared_words(matcher: Matcher) -> None:
    hits = matcher.match("Ecuador bananas have flesh-eating bacteria, share!!", top_k=3)
    assert hits[0].id == "bananas"
    assert "shared key terms" in hits[0].explanation
    assert hits[0].score > hits[1].score


def test_explanation_names_chinese_words_not_bigrams_across_them(matcher: Matcher) -> None:
    hits = matcher.match("听说吃碘盐可以预防核辐射", top_k=1)
    assert hits[0].id == "salt"
    terms = hits[0].explanation.split("shared key terms: ")[1].split(";")[0].split(", ")
    assert {"碘盐", "预防", "核辐射"} <= set(terms)
    # 盐可 and 防核 are character bigrams across two words; 辐射 is inside 核辐射, which is named already.
    assert not {"盐可", "防核", "辐射"} & set(terms)


def test_dense_hit_for_a_paraphrase(matcher: Matcher) -> None:
    assert _top(matcher, "astronauts never went, Apollo 11 was shot on a Hollywood set") == "moon"
    assert _top(matcher, "old people will lose their retirement payments from 2027") == "pension"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("家里老人说吃碘盐就能防核辐射，赶紧去超市抢盐", "salt"),
        ("开着空调睡一晚上会死人，千万别这样", "alarm"),
        ("听说5G基站会传播新冠病毒，小区要拆基站了", "5g"),  # Chinese text, English-only debunk
        ("Eating iodised salt protects you from nuclear radiation", "salt"),  # English text, Chinese debunk
        ("Sleeping with the air conditioner on all night can poison and kill you", "alarm"),
    ],
)
def test_chinese_and_cross_lingual(matcher: Matcher, text: str, expected: str) -> None:
    assert _top(matcher, text) == expected


def test_traditional_chinese_matches_simplified(matcher: Matcher) -> None:
    assert _top(matcher, "聽說吃碘鹽能防核輻射") == "salt"


def test_variant_reported_as_matched_text(matcher: Matcher) -> None:
    hit = matcher.match("喝醋可以杀死新冠病毒吗？", top_k=1)[0]
    assert hit.id == "vinegar"
    assert hit.matched_text == "喝醋能杀死新冠病毒"
    assert hit.explanation.startswith("variant matched")


def test_scores_are_probabilities_with_bands(matcher: Matcher) -> None:
    for text in ["Drinking vinegar kills the coronavirus", "I like trains", "喝醋能杀死新冠病毒"]:
        for h in matcher.match(text, top_k=5):
            assert 0.0 <= h.score <= 1.0 and h.band in BANDS and h.explanation and h.matched_text
    exact = matcher.match("Drinking vinegar kills the coronavirus", top_k=2)
    assert exact[0].band == "match" and exact[1].band != "match"
    unrelated = matcher.match("My cat sleeps on the sofa all afternoon", top_k=1)
    assert unrelated[0].band != "match"


def test_match_many_agrees_with_match(matcher: Matcher) -> None:
    texts = ["5G masts cause covid", "吃碘盐防辐射"]
    many = matcher.match_many(texts, top_k=2)
    assert [hs[0].id for hs in many] == [matcher.match(t, top_k=2)[0].id for t in texts]
    bare = matcher.match_many(texts, top_k=2, explain=False)  # what the report pipeline asks for
    assert [[(h.id, h.score, h.band) for h in hs] for hs in bare] == [[(h.id, h.score, h.band) for h in hs]
                                                                      for hs in many]
    assert all(h.explanation == "" and h.matched_text == "" for hs in bare for h in hs)
    assert all(h.explanation for hs in many for h in hs)
    assert matcher.match_many([], top_k=2) == []
    with pytest.raises(Invalid):
        matcher.match("x", top_k=0)


def test_a_batch_gives_each_text_what_it_gets_alone(matcher: Matcher) -> None:
    # Texts of both scripts, one without any word in the pool, one empty, one dated: the candidates of a batch
    # are computed together (ranks, z-scores and shortlists per text), so each must equal its single-text result.
    texts = ["5G masts cause covid", "吃碘盐防辐射", "zzzz qqqq", "", "Vinegar does not kill the virus, 喝醋没用",
             "the moon landing was staged in 1969"]
    dates = [None, None, None, None, "2020-03-01", None]
    vecs = matcher.embed(texts)
    batch = matcher.candidates_many(texts, vectors=vecs, dates=dates)
    for i, text in enumerate(texts):
        alone = matcher.candidates_many([text], vectors=vecs[i : i + 1], dates=[dates[i]])[0]
        assert batch[i].ids == alone.ids
        np.testing.assert_allclose(batch[i].x, alone.x, rtol=1e-5, atol=1e-6, equal_nan=True)
        assert [batch[i].explain(j) for j in range(len(alone.ids))] == [alone.explain(j)
                                                                        for j in range(len(alone.ids))]
    assert batch[0].ids and batch[1].ids and len({tuple(c.ids) for c in batch}) > 2


def test_incremental_upsert_correct_and_remove() -> None:
    emb = CountingEmbedder()
    m = Matcher(POOL, embedder=emb)
    before = emb.texts
    m.upsert([ClaimDoc("ufo", "A UFO landed in a wheat field in Kansas last night")])
    assert emb.texts - before == 1  # only the new debunk was embedded
    assert len(m) == len(POOL) + 1
    assert _top(m, "aliens landed their spaceship on a Kansas farm") == "ufo"
    m.upsert([ClaimDoc("ufo", "Drinking bleach cures malaria")])  # correction replaces the text
    assert _top(m, "bleach cures malaria") == "ufo"
    assert all(h.id != "ufo" for h in m.match("UFO wheat field Kansas", top_k=3) if h.band == "match")
    m.remove(["ufo", "bananas", "never-existed"])
    assert "ufo" not in m and "bananas" not in m and len(m) == len(POOL) - 1
    assert all(h.id not in {"ufo", "bananas"} for h in m.match("Ecuador bananas bacteria", top_k=10))


def test_invalid_docs_rejected() -> None:
    m = Matcher(embedder=get_embedder())
    with pytest.raises(Invalid):
        m.upsert([ClaimDoc("", "text")])
    with pytest.raises(Invalid):
        m.upsert([ClaimDoc("x", "   ")])
    assert m.match("anything") == []


def test_a_refused_upsert_changes_nothing() -> None:
    m = Matcher([ClaimDoc("ufo", "A UFO landed in a wheat field in Kansas last night")], embedder=get_embedder())
    with pytest.raises(Invalid):  # the second debunk's date is refused: neither is indexed, the first is kept
        m.upsert([ClaimDoc("moon", "The moon landing was filmed in a studio", lang="en"),
                  ClaimDoc("late", "疫苗含有追踪芯片", lang="zh", published="someday")])  # type: ignore[arg-type]
    assert "moon" not in m and "ufo" in m
    with pytest.raises(Invalid):  # vectors of the wrong shape: refused before anything changes
        m.upsert([ClaimDoc("moon", "The moon landing was filmed in a studio", lang="en")],
                 vectors=np.zeros((2, 512), dtype=np.float32))
    assert "moon" not in m
    m.upsert([ClaimDoc("chip", "疫苗里有追踪芯片", lang="zh")])
    hit = m.match("疫苗有芯片", top_k=1)[0]
    assert hit.id == "chip" and hit.matched_text == "疫苗里有追踪芯片"
    assert "shared key terms" in hit.explanation  # its row kept its own language (lexical evidence counted)
    assert _top(m, "aliens landed their spaceship on a Kansas farm") == "ufo"


def test_save_load_round_trip_without_reembedding(matcher: Matcher, tmp_path: Path) -> None:
    m = Matcher(POOL)
    m.upsert([ClaimDoc("late", "Chewing gum stays in your stomach for seven years")])  # lives in the delta
    m.remove(["eclipse"])
    m.save(tmp_path / "m")
    emb = CountingEmbedder()
    loaded = Matcher.load(tmp_path / "m", embedder=emb)
    assert emb.texts == 0 and len(loaded) == len(m)
    for text in ["swallowed gum stays inside you for 7 years", "吃碘盐防辐射", "Apollo was filmed in a studio"]:
        assert [(h.id, h.score) for h in loaded.match(text)] == [(h.id, h.score) for h in m.match(text)]
    assert "eclipse" not in loaded
    with pytest.raises(Invalid):
        Matcher.load(tmp_path / "missing")


def test_reads_run_while_updates_happen() -> None:
    m = Matcher(POOL)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for hs in m.match_many(["5G towers spread covid", "吃碘盐防辐射"], top_k=3):
                    assert hs and hs[0].id in {"5g", "salt"}
        except BaseException as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(30):
        m.upsert([ClaimDoc(f"n{i}", f"Rumour number {i} about a celebrity wedding in Paris")])
        if i % 3 == 0:
            m.remove([f"n{i}"])
    m.compact()
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(m) == len(POOL) + 20


def test_chinese_text_gets_at_least_the_dense_view_probability() -> None:
    # The re-ranker's lexical features were learned on English pairs; for Chinese text a hit's probability is at
    # least what the same candidate gets with its lexical features blanked (matcher.DENSE_FLOOR_LANGS). The ranking
    # and every English result stay the full model's.
    from qinglang.match.evaluate import load_pool, load_queries
    from qinglang.match.features import LEXICAL_IDX

    data = Path(__file__).resolve().parents[1] / "data" / "match_zh"
    m = Matcher(load_pool(data / "pool_zh.jsonl")[:60])
    texts = [t for _, t in load_queries(data / "queries_zh.tsv")[:60]]
    english = Matcher(load_pool(data / "pool_en.jsonl")[:60])
    en_texts = [t for _, t in load_queries(data / "queries_en.tsv")[:20]]
    cal = m.scorer.calibration
    lifted = 0
    for hits, cands in zip(m.match_many(texts, top_k=3), m.candidates_many(texts), strict=True):
        full = cal.probability(m.scorer.raw(cands.x))
        blanked = cands.x.copy()
        blanked[:, LEXICAL_IDX] = np.nan
        dense = cal.probability(m.scorer.raw(blanked))
        order = np.argsort(-m.scorer.raw(cands.x), kind="stable")[:3]
        assert [h.id for h in hits] == [cands.ids[i] for i in order]  # the full model's ranking
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        top = order[0]
        assert hits[0].score == pytest.approx(max(full[top], dense[top]), abs=1e-4)
        lifted += full[top] < cal.match_threshold <= hits[0].score
    assert lifted > 0  # some right-looking Chinese top hits reach `match` only through the dense view
    for hits, cands in zip(english.match_many(en_texts, top_k=3), english.candidates_many(en_texts), strict=True):
        raw = english.scorer.raw(cands.x)
        top = int(np.argmax(raw))
        assert hits[0].score == pytest.approx(float(cal.probability(raw[top : top + 1])[0]), abs=1e-4)


def test_the_match_band_needs_semantic_similarity(matcher: Matcher, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hit below MATCH_MIN_SIMILARITY is at most `possible`, its probability under the `match` threshold, and no
    hit ranked below it is shown as `match` either."""
    from qinglang.match import matcher as matcher_module

    text = "5G masts are spreading the coronavirus"
    strong = matcher.match(text, top_k=3)
    assert strong[0].id == "5g" and strong[0].band == "match"
    monkeypatch.setattr(matcher_module, "MATCH_MIN_SIMILARITY", 1.01)  # above any cosine similarity
    capped = matcher.match(text, top_k=3)
    assert [h.id for h in capped] == [h.id for h in strong]  # the ranking is the model's, unchanged
    threshold = matcher.scorer.calibration.match_threshold
    assert all(h.band != "match" and h.score < threshold for h in capped)
    assert capped[0].band == "possible"


def test_band_only_gives_the_match_band_hits_and_skips_texts_no_row_is_near(matcher: Matcher) -> None:
    """``band_only`` (the report pipeline): the same `match`-band hits as a full match, none of the rest; a text
    whose nearest row is under MATCH_MIN_SIMILARITY gets no candidates at all (none could reach the band)."""
    from qinglang.match.matcher import MATCH_MIN_SIMILARITY

    texts = ["5G masts are spreading the coronavirus", "Ecuador bananas have flesh-eating bacteria, share!!",
             "the quarterly report is attached, see you at the meeting on Tuesday", "明天下午三点在会议室开会",
             "astronauts never went, Apollo 11 was shot on a Hollywood set"]
    full = matcher.match_many(texts, top_k=3, explain=False)
    only = matcher.match_many(texts, top_k=3, explain=False, band_only=True)
    assert only == [[h for h in hits if h.band == "match"] for hits in full]
    assert only[0] and only[0][0].id == "5g"
    _, nearest = matcher._dense.search(matcher.embed(texts), 1)
    far = [i for i in range(len(texts)) if nearest[i, 0] < MATCH_MIN_SIMILARITY]
    assert far, "at least one text has no row near enough for the band"
    cands = matcher.candidates_many(texts, band_only=True)
    assert all(not cands[i].ids for i in far)
    assert all(cands[i].ids for i in range(len(texts)) if i not in far)


def test_a_pool_with_the_graph_index_goes_into_huge_pages_when_built_compacted_or_loaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qinglang.match import matcher as matcher_module
    from qinglang.match.index import NumpyIndex, UsearchIndex
    from qinglang.settings import get_settings

    calls: list[int] = []
    monkeypatch.setattr(matcher_module, "collapse_large_mappings", lambda: calls.append(1) or 0)
    Matcher(POOL)  # the exact index: nothing to do
    assert calls == []
    monkeypatch.setattr("qinglang.match.index.EXACT_LIMIT", 4)  # the graph index from five rows up
    m = Matcher(POOL)
    assert isinstance(m._dense, UsearchIndex) and calls == [1]
    m.save(tmp_path / "m")  # compacts first
    loaded = Matcher.load(tmp_path / "m")
    assert calls == [1, 1, 1]
    assert [h.id for h in loaded.match("5G masts spread covid")][:1] == ["5g"]
    monkeypatch.setenv("QINGLANG_HUGE_PAGES", "false")
    get_settings.cache_clear()
    try:
        Matcher.load(tmp_path / "m")
        assert calls == [1, 1, 1]
    finally:
        monkeypatch.delenv("QINGLANG_HUGE_PAGES")
        get_settings.cache_clear()
    assert isinstance(Matcher([POOL[0]])._dense, NumpyIndex) and calls == [1, 1, 1]
