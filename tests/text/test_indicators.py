"""Indicator extraction (phones, URLs, cards, accounts, QR) and the blocklist matcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import segno
from PIL import Image

from qinglang.errors import Invalid
from qinglang.text.indicators import (
    BlocklistEntry,
    canonical_value,
    extract,
    from_image,
    luhn_ok,
    match_blocklist,
    registered_domain,
)


def kinds(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i in extract(text):
        out.setdefault(i.kind, []).append(i.value)
    return out


def test_phones_become_e164_with_cn_default_region() -> None:
    k = kinds("客服电话 138-1234-5678，座机010-12345678，境外 +1 650-253-0000")
    assert k["phone"] == ["+8613812345678", "+861012345678", "+16502530000"]


def test_full_width_digits_are_folded() -> None:
    assert kinds("拨打１３８１２３４５６７８")["phone"] == ["+8613812345678"]


def test_plain_numbers_are_not_accounts_or_cards() -> None:
    k = kinds("订单号 20231122334455 已发货，数量 123456789，版本 v1.2，见 a.txt")
    assert not {"qq", "wechat", "bank_card", "alipay", "telegram", "domain"} & set(k)


def test_urls_carry_registered_domain() -> None:
    inds = extract("Login at https://secure.login.Example.co.uk/verify?id=1, or visit icbc-pay.top/x")
    urls = [i.value for i in inds if i.kind == "url"]
    doms = [i.value for i in inds if i.kind == "domain"]
    assert urls == ["https://secure.login.example.co.uk/verify?id=1", "http://icbc-pay.top/x"]
    assert doms == ["example.co.uk", "icbc-pay.top"]
    assert registered_domain("a.b.gov.cn") == "b.gov.cn"


def test_bank_cards_need_luhn() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert kinds("card 4111 1111 1111 1111")["bank_card"] == ["4111111111111111"]
    assert "bank_card" not in kinds("card 4111 1111 1111 1112")


def test_accounts_need_their_platform_named() -> None:
    k = kinds("加微信: kefu_8899 或 QQ号 987654321，支付宝 13912345678，电报 @fast_money88，t.me/cashbot_x")
    assert k["wechat"] == ["kefu_8899"]
    assert k["qq"] == ["987654321"]
    assert k["alipay"] == ["+8613912345678"]
    assert k["telegram"] == ["fast_money88", "cashbot_x"]


def test_spans_point_at_the_raw_text() -> None:
    text = "call 13812345678 now"
    (ind,) = extract(text)
    assert text[ind.span[0]: ind.span[1]] == ind.raw


def test_qr_code_in_image_becomes_url_indicator(tmp_path) -> None:
    path = tmp_path / "qr.png"
    segno.make("https://pay.scam-example.top/wx?id=42", error="m").save(str(path), scale=6, border=4)
    with Image.open(path) as img:
        inds = from_image(img.convert("RGB"))
    got = {(i.kind, i.value) for i in inds}
    assert ("qr", "https://pay.scam-example.top/wx?id=42") in got
    assert ("url", "https://pay.scam-example.top/wx?id=42") in got
    assert ("domain", "scam-example.top") in got


def test_blank_image_has_no_qr() -> None:
    assert from_image(Image.new("RGB", (120, 120), "white")) == []


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_domain_entries_match_subdomains_not_parents() -> None:
    inds = extract("go to https://a.b.evil.com/x and https://evil.com.safe.org/ and https://notevil.com/")
    entries = [BlocklistEntry("domain", "b.evil.com", "police", "phishing")]
    hits = match_blocklist(inds, entries, now=NOW)
    assert [h.indicator.value for h in hits] == ["https://a.b.evil.com/x"]
    parent_entry = [BlocklistEntry("domain", "evil.com", "police", "phishing")]
    assert {h.indicator.kind for h in match_blocklist(extract("see http://x.evil.com"), parent_entry, now=NOW)}


def test_expired_entries_never_hit() -> None:
    inds = extract("电话 13812345678")
    live = BlocklistEntry("phone", "+8613812345678", "bank", "scam", NOW + timedelta(days=1))
    dead = BlocklistEntry("phone", "+8613812345678", "bank", "scam", NOW - timedelta(seconds=1))
    naive_live = BlocklistEntry("phone", "+8613812345678", "x", "y", datetime(2027, 1, 1))
    hits = match_blocklist(inds, [live, dead, naive_live], now=NOW)
    assert [h.entry for h in hits] == [live, naive_live]


def test_canonical_value_normalises_and_rejects() -> None:
    assert canonical_value("phone", "138 1234 5678") == "+8613812345678"
    assert canonical_value("domain", "https://WWW.Evil.com/path") == "evil.com"
    assert canonical_value("bank_card", "4111-1111-1111-1111") == "4111111111111111"
    with pytest.raises(Invalid):
        canonical_value("bank_card", "4111111111111112")
    with pytest.raises(Invalid):
        canonical_value("phone", "12")
    with pytest.raises(Invalid):
        canonical_value("fax", "1")
