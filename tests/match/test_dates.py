"""Dates of posts and debunks: parsing, the embed signature, and how the matcher uses them."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import pytest

from qinglang.errors import Invalid
from qinglang.match import ClaimDoc, Matcher
from qinglang.match.dates import day_number, parse_date, signature_date
from qinglang.match.features import FEATURES


@pytest.mark.parametrize(("value", "expected"), [
    ("2021-01-28", date(2021, 1, 28)), ("2021-01-28T23:10:00Z", date(2021, 1, 28)),
    ("26 May 2015", date(2015, 5, 26)), ("21February 2009", date(2009, 2, 21)), ("May 26, 2015", date(2015, 5, 26)),
    ("2020年3月5日", date(2020, 3, 5)), (datetime(2020, 3, 5, 8, 0), date(2020, 3, 5)), (None, None), ("", None),
])
def test_parse_date_formats(value: object, expected: date | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2021-13-01", 20210128, ["2021-01-28"]])
def test_parse_date_rejects_with_the_field(value: object) -> None:
    with pytest.raises(Invalid) as e:
        parse_date(value, field="published")
    assert e.value.field == "published"


def test_day_number() -> None:
    assert day_number("1970-01-11") == 10.0
    assert math.isnan(day_number(None))


def test_signature_date_reads_only_a_trailing_embed_signature() -> None:
    assert signature_date("Big news today pic.twitter.com/x — Some Org (@someorg) January 28, 2021") == date(
        2021, 1, 28)
    assert signature_date("posted — A B (@ab) Sept. 3, 2020") is None  # not a Twitter month form: no guess
    assert signature_date("On January 28, 2021 the bridge closed") is None
    assert signature_date("— Name (@handle) January 28, 2021 and then more text") is None


# Two debunks of the same recurring hoax, published years apart, plus unrelated ones.
POOL = [
    ClaimDoc("old", "Facebook will start charging users a monthly fee", published=date(2012, 3, 1)),
    ClaimDoc("new", "Facebook will start charging users a monthly fee", published=date(2021, 6, 10)),
    ClaimDoc("moon", "The moon landing in 1969 was filmed in a studio", published=date(2021, 6, 12)),
    ClaimDoc("bananas", "Bananas imported from Ecuador carry a flesh-eating bacteria"),
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(POOL)


def test_post_date_picks_the_debunk_of_its_time(matcher: Matcher) -> None:
    text = "Facebook is going to charge everyone a monthly fee starting next month!"
    assert matcher.match(text, top_k=2, date="2021-06-08")[0].id == "new"
    assert matcher.match(text, top_k=2, date=date(2012, 2, 20))[0].id == "old"


def test_date_features_are_missing_without_a_date(matcher: Matcher) -> None:
    gap = FEATURES.index("date_gap")
    text = "Facebook is going to charge a monthly fee"
    undated = matcher.candidates_many([text])[0]
    assert all(math.isnan(v) for v in undated.x[:, gap])
    dated = matcher.candidates_many([text], dates=["2021-06-08"])[0]
    by_id = dict(zip(dated.ids, dated.x[:, gap].tolist(), strict=True))
    assert by_id["new"] == pytest.approx(math.log1p(2))
    assert math.isnan(by_id.get("bananas", math.nan))  # no publication date: unknown, not "far"


def test_dates_are_validated(matcher: Matcher) -> None:
    with pytest.raises(Invalid) as e:
        matcher.match("anything", date="not a date")
    assert e.value.field == "date"
    with pytest.raises(Invalid):
        matcher.match_many(["a", "b"], dates=["2021-01-01"])
    with pytest.raises(Invalid) as e:
        Matcher([ClaimDoc("x", "claim", published="someday")])  # type: ignore[arg-type]
    assert e.value.field == "published"


def test_publication_dates_survive_save_and_load(matcher: Matcher, tmp_path: Path) -> None:
    matcher.save(tmp_path / "m")
    loaded = Matcher.load(tmp_path / "m")
    assert loaded.get("new") == POOL[1] and loaded.get("bananas").published is None  # type: ignore[union-attr]
    text = "Facebook is going to charge everyone a monthly fee starting next month!"
    assert [(h.id, h.score) for h in loaded.match(text, date="2012-02-20")] == [
        (h.id, h.score) for h in matcher.match(text, date="2012-02-20")]
