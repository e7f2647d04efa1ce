"""CheckThat!-style metrics on a tiny example with answers worked out by hand, and the file loaders."""

from __future__ import annotations

from pathlib import Path

import pytest

from qinglang.errors import Invalid, NotFound
from qinglang.match.evaluate import (
    average_precision,
    band_stats,
    load_pool,
    load_qrels,
    load_queries,
    metrics,
    summary_line,
)


def test_average_precision_divides_by_all_relevant() -> None:
    assert average_precision({"a"}, ["a", "b"], 5) == 1.0
    assert average_precision({"a"}, ["b", "a"], 5) == 0.5
    assert average_precision({"a"}, ["b", "a"], 1) == 0.0
    # two relevant, found at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision({"a", "c"}, ["a", "b", "c"], 5) == pytest.approx((1 + 2 / 3) / 2)
    # only one of two relevant inside k=1: 1/2
    assert average_precision({"a", "c"}, ["a", "c"], 1) == 0.5


def test_metrics_on_hand_made_rankings() -> None:
    qrels = {"q1": {"a"}, "q2": {"b"}, "q3": {"c"}, "q4": {"d"}}
    ranks = {"q1": ["a", "x"], "q2": ["x", "b"], "q3": ["x"] * 5 + ["c"]}  # q4 has no ranking at all
    m = metrics(ranks, qrels)
    assert m["p@1"] == pytest.approx(0.25)
    assert m["map@1"] == pytest.approx(0.25)
    assert m["map@5"] == pytest.approx((1 + 0.5 + 0 + 0) / 4)
    assert m["recall@5"] == pytest.approx(0.5)
    assert m["recall@10"] == pytest.approx(0.75)
    assert summary_line(m) == "map@1=0.2500 map@5=0.3750 p@1=0.2500 recall@10=0.7500"
    with pytest.raises(Invalid):
        metrics(ranks, {})


def test_loaders_read_the_design_formats(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"vclaim_id": "c1", "vclaim": "claim one", "title": "t"}\n\n'
                    '{"vclaim_id": 2, "vclaim": "claim two", "variants": ["v"]}\n', encoding="utf-8")
    docs = load_pool(pool)
    assert [(d.id, d.title, d.variants) for d in docs] == [("c1", "t", ()), ("2", "", ("v",))]
    q = tmp_path / "q.tsv"
    q.write_text('q1\tplain text\nq2\t"quoted ""inner"" text"\n', encoding="utf-8")
    assert load_queries(q) == [("q1", "plain text"), ("q2", 'quoted "inner" text')]
    r = tmp_path / "r.tsv"
    r.write_text("q1\t0\tc1\t1\nq1\t0\t2\t0\nq2\t0\t2\t1\n", encoding="utf-8")
    assert load_qrels(r) == {"q1": {"c1"}, "q2": {"2"}}


def test_loader_errors_name_the_line(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"vclaim_id": "c1", "vclaim": "ok"}\n{"vclaim": "no id"}\n', encoding="utf-8")
    with pytest.raises(Invalid, match=":2:"):
        load_pool(pool)
    q = tmp_path / "q.tsv"
    q.write_text("q1 no tab here\n", encoding="utf-8")
    with pytest.raises(Invalid, match=":1:"):
        load_queries(q)
    with pytest.raises(NotFound):
        load_qrels(tmp_path / "missing.tsv")


def test_pool_dates_are_read_and_queries_dated_by_their_embed_signature(tmp_path: Path) -> None:
    from datetime import date

    from qinglang.match import Matcher
    from qinglang.match.evaluate import rank_queries

    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        '{"vclaim_id": "old", "vclaim": "Facebook will start charging users a monthly fee", "date": "1 March 2012"}\n'
        '{"vclaim_id": "new", "vclaim": "Facebook will start charging users a monthly fee", "date": "2021-06-10"}\n'
        '{"vclaim_id": "odd", "vclaim": "The moon landing was filmed in a studio", "date": "not a date at all"}\n',
        encoding="utf-8")
    docs = {d.id: d for d in load_pool(pool)}
    assert docs["old"].published == date(2012, 3, 1) and docs["odd"].published is None  # unreadable: unknown
    m = Matcher(docs.values())
    text = "Facebook is going to charge everyone a monthly fee! — Some One (@someone) {} 2021"
    q = [("a", text.format("June 8,")), ("b", text.format("February 20,").replace("2021", "2012"))]
    dated = rank_queries(m, q, k=2)
    assert dated["a"][0] == "new" and dated["b"][0] == "old"
    undated = rank_queries(m, q, k=2, dates=False)
    assert undated["a"][0] == undated["b"][0]  # the same text without its date: the same ranking


def test_band_stats_count_right_top_hits_in_the_match_band() -> None:
    qrels = {"q1": {"a"}, "q2": {"b"}, "q3": {"c"}, "q4": {"d"}}
    ranks = {"q1": ["a", "x"], "q2": ["b"], "q3": ["x", "c"], "q4": []}  # q1, q2 right at the top; q3 wrong
    bands = {"q1": "match", "q2": "possible", "q3": "match"}
    got = band_stats(ranks, bands, qrels)
    assert (got["right"], got["shown"], got["shown_right"]) == (2, 2, 1)
    assert got["coverage"] == 0.5 and got["precision"] == 0.5
