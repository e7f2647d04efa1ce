"""Indicators of harm extracted from text and images, and a pure blocklist matcher over them.

Indicators are the concrete handles a case can be acted on by: phone numbers (E.164), URLs and their
registered domains, bank card numbers (Luhn-checked), payment and social account ids (WeChat, QQ, Alipay,
Telegram), e-mail addresses, crypto wallet addresses, and the text of QR codes found in images.

Never touches the network (tldextract runs on its bundled suffix list) and never guesses an account id
from a bare number: account ids need their platform named next to them, so an order number stays an
order number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import phonenumbers
import tldextract

from qinglang.errors import Invalid
from qinglang.text.normalize import nfkc

if TYPE_CHECKING:
    from PIL import Image

KINDS: tuple[str, ...] = (
    "phone", "url", "domain", "bank_card", "wechat", "qq", "alipay", "telegram", "email", "crypto", "qr",
)


@dataclass(frozen=True)
class Indicator:
    """One indicator: `value` is canonical (E.164, lower-case domain, digits only), `raw` as written.

    `span` is (start, end) in the NFKC form of the text (NFKC keeps CJK offsets; full-width digits
    fold to one ASCII character each), or (0, 0) for indicators decoded from an image.
    """

    kind: str
    value: str
    raw: str
    span: tuple[int, int]


@dataclass(frozen=True)
class BlocklistEntry:
    kind: str
    value: str
    source: str
    reason: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class BlocklistHit:
    indicator: Indicator
    entry: BlocklistEntry


_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'，。！？、；：（）()【】\[\]{}]+", re.IGNORECASE)
# Bare domains such as "abc-pay.top/login": a label, a dot, and a TLD-like tail, not inside an e-mail.
_BARE_DOMAIN_RE = re.compile(
    r"(?<![\w@.\-/])((?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,12})(/[^\s<>\"'，。！？、；：（）()]*)?",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"(?<![\w.+-])[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,12}",
                       re.IGNORECASE)
_CARD_RE = re.compile(r"(?<![\d])(\d{4}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?)(?![\d])")
_CARD_CONTEXT_RE = re.compile(r"卡号|银行卡|储蓄卡|信用卡|借记卡|账号|帐号|card|acct|account", re.IGNORECASE)
_CARD_IIN_RE = re.compile(r"^(?:4|5[1-5]|2[2-7]|62|3[47]|35|6011|65|9)")
_GAP = r"\s*[:：=]?\s*(?:是|为|号|号码|id|ID)?\s*[:：]?\s*"
_QQ_RE = re.compile(r"(?:qq|QQ|Qq|扣扣|企鹅)(?:号|群)?" + _GAP + r"([1-9]\d{4,11})(?!\d)")
_WECHAT_RE = re.compile(
    r"(?:微信|威信|薇信|徽信|wechat|weixin|vx|v信|wx|加v|\+v|加微)(?:号)?" + _GAP
    + r"([a-zA-Z][-_a-zA-Z0-9]{5,19}|1[3-9]\d{9})(?![\w-])",
    re.IGNORECASE,
)
_ALIPAY_RE = re.compile(
    r"(?:支付宝|alipay)(?:账号|帐号|账户)?" + _GAP
    + r"(1[3-9]\d{9}|[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,12})(?![\w])",
    re.IGNORECASE,
)
_TG_CONTEXT_RE = re.compile(
    r"(?:telegram|tg|电报|飞机|纸飞机)(?:号|群)?" + _GAP + r"@?([a-zA-Z][a-zA-Z0-9_]{4,31})(?!\w)",
    re.IGNORECASE,
)
_TG_LINK_RE = re.compile(r"(?:https?://)?(?:t\.me|telegram\.me)/(?:joinchat/)?@?([a-zA-Z][a-zA-Z0-9_]{4,31})",
                         re.IGNORECASE)
_CRYPTO_RE = re.compile(
    r"(?<![\w])(T[1-9A-HJ-NP-Za-km-z]{33}|0x[0-9a-fA-F]{40}|bc1[02-9ac-hj-np-z]{25,59})(?![\w])"
)
_DIGIT_RUN_RE = re.compile(r"\d[\d\s\-()]{5,}\d")


@lru_cache(maxsize=1)
def _tld() -> tldextract.TLDExtract:
    # suffix_list_urls=() keeps tldextract on its bundled snapshot: no network, ever.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registered_domain(host: str) -> str:
    """The registrable domain of a host (``a.b.example.co.uk`` → ``example.co.uk``); '' when none."""
    r = _tld()(host.lower().strip("."))
    if not r.suffix or not r.domain:
        return ""
    return f"{r.domain}.{r.suffix}"


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn check used by payment card numbers."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def e164(number: str, *, region: str = "CN") -> str:
    """A phone number in E.164 (``+8613812345678``); raises `Invalid` when it is not a valid number."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise Invalid(f"not a phone number: {number!r}", field="value") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise Invalid(f"not a valid phone number: {number!r}", field="value")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _canonical_url(url: str) -> tuple[str, str]:
    """(canonical URL, host): scheme added when missing, host lower-cased, fragment dropped."""
    u = url if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE) else "http://" + url
    try:
        parts = urlsplit(u)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return url, ""
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}{path}{query}", host


def url_host(value: str) -> str:
    """The host of a URL indicator value (lower case, no port)."""
    return _canonical_url(value)[1]


def _url_indicators(raw: str, span: tuple[int, int]) -> list[Indicator]:
    raw = raw.rstrip(".,;:!?")
    canonical, host = _canonical_url(raw)
    if not host:
        return []
    out = [Indicator("url", canonical, raw, (span[0], span[0] + len(raw)))]
    reg = registered_domain(host)
    if reg:
        out.append(Indicator("domain", reg, host, (span[0], span[0] + len(raw))))
    tg = _TG_LINK_RE.match(raw)
    if tg and host in {"t.me", "telegram.me"}:
        out.append(Indicator("telegram", tg.group(1).lower(), raw, (span[0], span[0] + len(raw))))
    return out


def extract(text: str, *, region: str = "CN") -> list[Indicator]:
    """All indicators in ``text``, ordered by position, each canonical value once per kind."""
    t = nfkc(text)
    found: list[Indicator] = []
    taken: list[tuple[int, int]] = []  # spans already explained by a URL or an e-mail

    for m in _EMAIL_RE.finditer(t):
        found.append(Indicator("email", m.group(0).lower(), m.group(0), m.span()))
        taken.append(m.span())
    for m in _URL_RE.finditer(t):
        found.extend(_url_indicators(m.group(0), m.span()))
        taken.append(m.span())
    for m in _BARE_DOMAIN_RE.finditer(t):
        if _overlaps(m.span(), taken) or not registered_domain(m.group(1)):
            continue
        # "file.txt" or "v1.2" are not domains; a registrable suffix is required (checked above) and
        # the label before it must contain a letter.
        if not re.search(r"[a-z]", m.group(1).split(".")[0], re.IGNORECASE):
            continue
        found.extend(_url_indicators(m.group(0), m.span()))
        taken.append(m.span())

    accounts: list[tuple[int, int]] = []
    for kind, rx in (("qq", _QQ_RE), ("wechat", _WECHAT_RE), ("alipay", _ALIPAY_RE), ("telegram", _TG_CONTEXT_RE)):
        for m in rx.finditer(t):
            if _overlaps(m.span(1), taken):
                continue
            value = m.group(1)
            if kind == "alipay" and value.isdigit():
                value = e164(value, region=region) if _valid_phone(value, region) else value
            found.append(Indicator(kind, value.lower(), m.group(1), m.span(1)))
            accounts.append(m.span(1))

    for m in _CRYPTO_RE.finditer(t):
        if not _overlaps(m.span(), taken):
            value = m.group(1).lower() if m.group(1).startswith(("0x", "bc1")) else m.group(1)
            found.append(Indicator("crypto", value, m.group(1), m.span()))
            taken.append(m.span())

    cards: list[tuple[int, int]] = []
    for m in _CARD_RE.finditer(t):
        digits = re.sub(r"[ -]", "", m.group(1))
        if not 13 <= len(digits) <= 19 or not luhn_ok(digits) or _overlaps(m.span(1), taken):
            continue
        context = t[max(0, m.start() - 12): m.start()]
        if _CARD_IIN_RE.match(digits) or _CARD_CONTEXT_RE.search(context):
            found.append(Indicator("bank_card", digits, m.group(1), m.span(1)))
            cards.append(m.span(1))

    if _DIGIT_RUN_RE.search(t) or "+" in t:
        for pm in phonenumbers.PhoneNumberMatcher(t, region, leniency=phonenumbers.Leniency.VALID):
            span = (pm.start, pm.end)
            if _overlaps(span, taken) or _overlaps(span, cards):
                continue
            value = phonenumbers.format_number(pm.number, phonenumbers.PhoneNumberFormat.E164)
            found.append(Indicator("phone", value, pm.raw_string, span))

    found.sort(key=lambda i: (i.span[0], KINDS.index(i.kind)))
    seen: set[tuple[str, str]] = set()
    out: list[Indicator] = []
    for ind in found:
        if (ind.kind, ind.value) not in seen:
            seen.add((ind.kind, ind.value))
            out.append(ind)
    return out


def _valid_phone(digits: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(digits, region))
    except phonenumbers.NumberParseException:
        return False


def _overlaps(span: tuple[int, int], spans: Iterable[tuple[int, int]]) -> bool:
    return any(span[0] < e and s < span[1] for s, e in spans)


def from_image(image: Image.Image) -> list[Indicator]:
    """Indicators from the QR codes (and other barcodes) in an image.

    Each decoded payload becomes a ``qr`` indicator; payloads that are URLs also become ``url`` and
    ``domain`` indicators, and text payloads are scanned like any text.
    """
    import zxingcpp

    out: list[Indicator] = []
    seen: set[tuple[str, str]] = set()
    for code in zxingcpp.read_barcodes(image):
        payload = code.text
        if not payload:
            continue
        inds = [Indicator("qr", payload, payload, (0, 0))]
        inds.extend(Indicator(i.kind, i.value, i.raw, (0, 0)) for i in extract(payload))
        for ind in inds:
            if (ind.kind, ind.value) not in seen:
                seen.add((ind.kind, ind.value))
                out.append(ind)
    return out


def canonical_value(kind: str, value: str, *, region: str = "CN") -> str:
    """The canonical form of a blocklist value, so entries match extracted indicators exactly.

    Raises `Invalid` for an unknown kind or a value that cannot be that kind.
    """
    v = nfkc(value).strip()
    if kind not in KINDS:
        raise Invalid(f"unknown indicator kind {kind!r}; expected one of {', '.join(KINDS)}", field="kind")
    if not v:
        raise Invalid("empty indicator value", field="value")
    if kind == "phone":
        return e164(v, region=region)
    if kind == "domain":
        host = url_host(v) if ("/" in v or ":" in v) else v
        host = host.lower().strip(".")
        if host.startswith("www."):
            host = host[4:]
        if not registered_domain(host):
            raise Invalid(f"not a domain: {value!r}", field="value")
        return host
    if kind == "url":
        canonical, host = _canonical_url(v)
        if not host:
            raise Invalid(f"not a URL: {value!r}", field="value")
        return canonical
    if kind == "bank_card":
        digits = re.sub(r"[ -]", "", v)
        if not (13 <= len(digits) <= 19 and luhn_ok(digits)):
            raise Invalid(f"not a bank card number (Luhn): {value!r}", field="value")
        return digits
    if kind in {"wechat", "qq", "telegram", "email"}:
        return v.lstrip("@").lower()
    if kind == "alipay":
        return e164(v, region=region) if v.isdigit() else v.lower()
    return v


def match_blocklist(
    indicators: Sequence[Indicator], entries: Iterable[BlocklistEntry], *, now: datetime | None = None
) -> list[BlocklistHit]:
    """The (indicator, entry) pairs where an indicator is on the blocklist.

    Expired entries (``expires_at <= now``) never hit. A ``domain`` entry matches the domain itself and
    every subdomain, checked against the hosts of ``url`` and ``domain`` indicators; other kinds match
    on equal canonical values (entries are assumed canonical: see `canonical_value`).
    """
    now = now or datetime.now(UTC)
    by_key: dict[tuple[str, str], list[BlocklistEntry]] = {}
    domains: dict[str, list[BlocklistEntry]] = {}
    for e in entries:
        exp = e.expires_at
        if exp is not None and (exp if exp.tzinfo else exp.replace(tzinfo=UTC)) <= now:
            continue
        if e.kind == "domain":
            domains.setdefault(e.value.lower().strip("."), []).append(e)
        else:
            by_key.setdefault((e.kind, e.value), []).append(e)
    hits: list[BlocklistHit] = []
    for ind in indicators:
        for e in by_key.get((ind.kind, ind.value), ()):
            hits.append(BlocklistHit(ind, e))
        if domains and ind.kind in {"url", "domain"}:
            host = url_host(ind.value) if ind.kind == "url" else ind.raw.lower()
            if ind.kind == "domain":
                # A domain indicator stands for its registered domain; the url indicator carries the host.
                host = ind.value
            labels = host.split(".")
            for i in range(len(labels) - 1):
                for e in domains.get(".".join(labels[i:]), ()):
                    hits.append(BlocklistHit(ind, e))
    return _dedupe_hits(hits)


def _dedupe_hits(hits: list[BlocklistHit]) -> list[BlocklistHit]:
    # A url and its domain indicator both hit the same domain entry; report the entry once per host.
    seen: set[tuple[str, str, str]] = set()
    out: list[BlocklistHit] = []
    for h in hits:
        key = (h.entry.kind, h.entry.value, h.entry.source)
        if h.entry.kind == "domain":
            if key in seen:
                continue
            seen.add(key)
        out.append(h)
    return out
