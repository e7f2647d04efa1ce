"""Normalisation and segmentation as the matcher uses them."""

from __future__ import annotations

from qinglang.match.lexical import match_tokens, split_tags
from qinglang.match.matcher import embedding_text
from qinglang.text.normalize import normalize
from qinglang.text.segment import tokens


def test_traditional_fullwidth_and_case_fold_to_one_form() -> None:
    assert normalize("疫苗會改變ＤＮＡ") == normalize("疫苗会改变dna")
    assert tokens("５Ｇ基站傳播病毒") == tokens("5G基站传播病毒")


def test_stop_words_dropped_plurals_folded() -> None:
    toks = match_tokens("The vaccines are changing the stories of the world")
    assert "the" not in toks and "are" not in toks
    assert "vaccine" in toks and "story" in toks
    assert "glass" in match_tokens("glass")  # double s is not a plural


def test_camel_case_tags_and_handles_split() -> None:
    assert split_tags("#ScarfaceRemake by @LeoDiCaprio").split() == ["Scarface", "Remake", "by", "Leo", "Di", "Caprio"]
    assert {"scarface", "remake"} <= set(match_tokens("#ScarfaceRemake"))


def test_chinese_gets_words_and_character_bigrams() -> None:
    toks = match_tokens("喝陈醋能杀死冠状病毒")
    assert "病毒" in toks  # bigram view survives any segmentation
    assert "陈醋" in toks


def test_urls_and_tweet_tails_never_become_terms() -> None:
    toks = match_tokens("Look https://t.co/AbC123 pic.twitter.com/xYz99 wow")
    assert not any("abc123" in t or "xyz99" in t or t == "pic" for t in toks)
    et = embedding_text("Look at this https://t.co/AbC123 @someone 疫苗會")
    assert "t.co" not in et and "@" not in et and "疫苗会" in et
