"""The shipped model bundle: loads, gives sensible answers on handwritten zh/en texts, explains itself."""

from __future__ import annotations

import pytest

from qinglang.triage.analyze import analyze, analyze_many
from qinglang.triage.cues import FRAUD_TYPES
from qinglang.triage.models import DEFAULT_ARTEFACT, load_models

# Handwritten for this test, not taken from any dataset.
CASES = [
    ("我是市公安局民警，你的银行卡涉嫌洗钱，马上把存款转到安全账户配合调查", "fraud"),
    ("Your bank account is locked. Verify your password at http://secure-login.example.top today", "fraud"),
    ("澳门线上赌场上线了，百家乐充值就送彩金，日赢十万", "gambling"),
    ("出售全国车主信息和业主信息，含姓名手机号家庭住址", "privacy"),
    ("转发扩散！自来水被投毒了，官方还在隐瞒，千万别喝", "rumor"),
    ("出售免杀远控木马，附带钓鱼网站源码", "cybercrime"),
]


def test_artefact_is_small_and_loads() -> None:
    assert DEFAULT_ARTEFACT.stat().st_size < 50e6
    m = load_models()
    assert "cold" in m.meta["sources"] and "uci_sms" in m.meta["sources"]
    assert set(m.meta["sources"]) == {"seed", "cold", "uci_sms"}  # redistributable data only


@pytest.mark.parametrize(("text", "category"), CASES)
def test_sensible_top_category(text: str, category: str) -> None:
    assert analyze(text).top_category == category


def test_harmless_texts_get_no_category_and_no_flags() -> None:
    for r in analyze_many(["明天下午三点开会，记得带电脑", "Are we still meeting for lunch tomorrow?"]):
        assert r.top_category is None
        assert r.flagged() == []


def test_fraud_has_type_reason_and_indicators() -> None:
    r = analyze("你好，我是淘宝客服，你买的商品有质量问题，我们双倍理赔，请加QQ号 52013140 提供银行卡号")
    d = r.detectors["fraud"]
    assert d.score > 0.8 and d.label == "customer_service"
    assert d.reason and d.label in FRAUD_TYPES
    assert [(i.kind, i.value) for i in r.indicators] == [("qq", "52013140")]


def test_abuse_names_listed_words_and_misinfo_is_advisory() -> None:
    abuse = analyze("你就是个傻逼，脑残东西").detectors["abuse"]
    assert abuse.score > 0.8 and "傻逼" in abuse.reason
    mis = analyze("紧急扩散！明天全市停水三天，官方还没公布，赶紧囤水").detectors["misinfo"]
    assert mis.advisory and mis.score > 0.5 and "advisory" in mis.reason


def test_spam_detector_on_english_sms() -> None:
    r = analyze("FREE entry! Text WIN to 80085 now to win a brand new car, T&Cs apply")
    assert r.detectors["spam"].score > 0.8
    assert analyze("Can you pick up some bread on the way home?").detectors["spam"].score < 0.5


def test_forked_workers_give_the_same_answers() -> None:
    texts = [c[0] for c in CASES] * 100
    one = analyze_many(texts, indicators=False)
    two = analyze_many(texts, indicators=False, workers=2)
    assert [r.top_category for r in one] == [r.top_category for r in two]
    assert [round(r.detectors["fraud"].score, 6) for r in one] == [round(r.detectors["fraud"].score, 6) for r in two]


def test_empty_odd_and_huge_inputs() -> None:
    assert analyze_many([]) == []
    for r in analyze_many(["", "😀😀", "好" * 50_000]):
        assert r.top_category is None and all(0.0 <= d.score <= 1.0 for d in r.detectors.values())
