"""Cue patterns: the combined case-sensitive scan over prepared (lower-cased) text finds exactly what each cue's
own case-insensitive pattern finds."""

from __future__ import annotations

import re

import pytest

from qinglang.triage.cues import FRAUD_CUES, MISINFO_CUES, SPAM_CUES, Cue, fire
from qinglang.triage.features import prepare

ALL = {"fraud": FRAUD_CUES, "spam": SPAM_CUES, "misinfo": MISINFO_CUES}
TEXTS = [
    "您的ETC账户异常已冻结，请点击链接登录验证",  # upper-case Latin inside Chinese
    "ＵＲＧＥＮＴ: Your Account is SUSPENDED, verify at the link within 10 minutes",  # full width
    "冒充公安局：你的账户涉嫌洗钱，请转账到安全账户 6222021234567890",
    "据说喝醋能杀死病毒，转发给家人！",
    "Earn $500 a day liking videos, join the group and pay the deposit",
    "刷单返利日结300元，扫码进群，宝妈都在做",
    "A friend who works at the hospital says the vaccine CURES COVID",
    "全场特价清仓，欢迎来电咨询！回T退订",
    "FREE ENTRY to win, Claim Your prize, Reply STOP to opt-out",
    "今天天气很好，我们去公园散步吧",
]


@pytest.mark.parametrize("kind", sorted(ALL))
def test_patterns_are_written_in_lower_case(kind: str) -> None:
    for cue in ALL[kind]:
        literal = re.sub(r"\\[A-Za-z]", "", cue.pattern.pattern)  # escapes such as \\d, \\S are not letters
        assert literal == literal.lower(), f"{kind} cue {cue.name} has upper-case letters: fire() would miss them"


@pytest.mark.parametrize("kind", sorted(ALL))
def test_combined_scan_equals_each_cue(kind: str) -> None:
    cues: tuple[Cue, ...] = ALL[kind]
    fired_any = False
    for text in TEXTS:
        prepared = prepare(text)
        assert prepared == prepared.lower()
        got = [c.name for c, _ in fire(cues, prepared)]
        want = [c.name for c in cues if c.pattern.search(prepared)]
        assert got == want, text
        fired_any |= bool(got)
    assert fired_any


@pytest.mark.parametrize("kind", sorted(ALL))
def test_every_match_begins_with_one_of_the_cue_needles(kind: str) -> None:
    from qinglang.triage.cues import _needles

    cues: tuple[Cue, ...] = ALL[kind]
    needles = [_needles(c.pattern) for c in cues]
    assert sum(n is not None for n in needles) >= len(cues) - 1  # the pre-check applies to nearly every cue
    checked = 0
    for cue, nd in zip(cues, needles, strict=True):
        if nd is None:
            continue
        for text in TEXTS:
            for m in cue.pattern.finditer(prepare(text)):
                assert any(m.group(0).startswith(n) for n in nd), (cue.name, m.group(0))
                checked += 1
    assert checked
    # A text holding no needle at all is not scanned.
    assert fire(cues, "") == []
