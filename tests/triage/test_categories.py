"""Category classifier training from in-memory pairs and TSV files, and active-learning order."""

from __future__ import annotations

import numpy as np
import pytest

from qinglang.errors import Invalid
from qinglang.taxonomy import CATEGORY_CODES
from qinglang.triage.categories import train_category_model, uncertain_first, uncertainty
from qinglang.triage.data import parse_categories, read_tsv

# Written for this test: a tiny world with three kinds of text.
PAIRS = [
    ("gambling", "在线百家乐充值送彩金"), ("gambling", "赌场注册送八十八元"), ("gambling", "足球外围下注赔率高"),
    ("gambling", "online casino bonus spins"), ("gambling", "bet now on the football match"),
    ("fraud", "公安局通知您涉嫌洗钱请转账"), ("fraud", "刷单兼职日赚五百先垫付"), ("fraud", "客服退款请提供银行卡号"),
    ("fraud", "verify your bank password at this link"), ("fraud", "pay the fee to release your loan"),
    ("fraud,rumor", "国家发放补贴点击链接登记银行卡"),
    ("none", "今天天气很好去公园散步"), ("none", "晚上一起吃火锅吧"), ("none", "明天上午开会别迟到"),
    ("none", "see you at lunch tomorrow"), ("none", "the movie was great"), ((), "周末带孩子去博物馆"),
]


def test_trains_from_pairs_and_ranks_the_right_category() -> None:
    model = train_category_model(PAIRS)
    assert set(model.codes) == {"gambling", "fraud", "rumor"}
    p = model.predict_proba(["百家乐赌场充值送彩金", "请把钱转到安全账户配合公安调查", "一起去公园散步吧"])
    assert set(p[0]) == set(CATEGORY_CODES)
    assert max(p[0], key=lambda c: p[0][c]) == "gambling"
    assert max(p[1], key=lambda c: p[1][c]) == "fraud"
    assert max(p[2].values()) < 0.5
    assert p[0]["porn"] == 0.0  # never trained → never predicted


def test_trains_from_tsv(tmp_path) -> None:
    path = tmp_path / "train.tsv"
    lines = ["label\ttext"] + [f"{lab if isinstance(lab, str) else 'none'}\t{t}" for lab, t in PAIRS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = read_tsv(path)
    assert pairs[10] == ("fraud,rumor", "国家发放补贴点击链接登记银行卡")
    assert train_category_model(pairs).predict_proba(["casino bonus"])[0]["gambling"] > 0.5


def test_bad_labels_and_files_are_invalid(tmp_path) -> None:
    with pytest.raises(Invalid):
        parse_categories("fraud,spam")
    assert parse_categories("Fraud; rumor") == ("fraud", "rumor")
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\nx\ty\n", encoding="utf-8")
    with pytest.raises(Invalid, match="header"):
        read_tsv(bad)
    with pytest.raises(Invalid):
        train_category_model([("none", "a"), ("none", "b"), ("none", "c"), ("none", "d")])


def test_uncertain_first_orders_by_closeness_to_half() -> None:
    probs = np.zeros((4, len(CATEGORY_CODES)))
    probs[0, 0], probs[1, 1], probs[2, 2], probs[3, 3] = 0.99, 0.52, 0.8, 0.01
    assert uncertain_first(probs) == [1, 2, 0, 3]
    u = uncertainty(probs)
    assert u[1] > 0.9 and u[3] < 0.1
    as_dicts = [dict(zip(CATEGORY_CODES, row, strict=True)) for row in probs]
    assert uncertain_first(as_dicts) == [1, 2, 0, 3]
