"""Normalise user text so that the same words compare equal.

NFKC folds full-width/half-width forms, Traditional Chinese becomes Simplified (OpenCC t2s),
case is folded, and URLs, @mentions and #hashtags are reduced to stable tokens. Never drops
Chinese or Latin word characters: matchers and classifiers rely on every content word surviving.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'，。！？、）)]+", re.IGNORECASE)
_MENTION_RE = re.compile(r"(?<![\w@])@([\w\u4e00-\u9fff.-]{1,40})")
_HASHTAG_RE = re.compile(r"#([^#\s]{1,60})#?")
_SPACE_RE = re.compile(r"\s+")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_RE = re.compile(r"[A-Za-z]")


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters to Simplified; other text is unchanged."""
    if not _CJK_RE.search(text):
        return text
    return str(_t2s().convert(text))


def nfkc(text: str) -> str:
    """Unicode NFKC: full-width letters, digits and punctuation become their ASCII forms."""
    return unicodedata.normalize("NFKC", text)


def find_urls(text: str) -> list[str]:
    """URLs as they appear in the text (after NFKC), in order."""
    return _URL_RE.findall(nfkc(text))


# A report's text is normalised by every analysis step (dedup signature, lexical tokens, the matcher's overlap
# view, the triage features): short texts keep their normal form for the next step. Long texts are not kept, so
# the cache stays a few MB.
_CACHED_CHARS = 1000


def normalize(text: str, *, keep_urls: bool = False) -> str:
    """The canonical comparable form of a text.

    URLs are removed (their host is kept as a word, since ``who.int`` or a scam domain carries
    meaning) unless ``keep_urls``; ``@name`` keeps ``name``; ``#话题#`` keeps the topic words.
    """
    if len(text) <= _CACHED_CHARS:
        return _normalize_cached(text, keep_urls)
    return _normalize(text, keep_urls)


@lru_cache(maxsize=4096)
def _normalize_cached(text: str, keep_urls: bool) -> str:
    return _normalize(text, keep_urls)


def _normalize(text: str, keep_urls: bool) -> str:
    t = nfkc(text)
    if not keep_urls:
        t = _URL_RE.sub(lambda m: " " + _url_host(m.group(0)) + " ", t)
    t = _MENTION_RE.sub(lambda m: " " + m.group(1) + " ", t)
    t = _HASHTAG_RE.sub(lambda m: " " + m.group(1) + " ", t)
    t = to_simplified(t).lower()
    return _SPACE_RE.sub(" ", t).strip()


def _url_host(url: str) -> str:
    body = re.sub(r"^(?:https?://)?(?:www\.)?", "", url, flags=re.IGNORECASE)
    host = body.split("/", 1)[0].split("?", 1)[0]
    # t.co and similar shorteners carry no meaning; drop them entirely.
    return "" if host.lower() in {"t.co", "bit.ly", "t.cn", "url.cn", "dwz.cn"} else host


def detect_lang(text: str) -> str:
    """'zh' when Chinese characters dominate the letters, else 'en' (the two first-class languages)."""
    cjk = len(_CJK_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    if cjk == 0 and latin == 0:
        return "und"
    # One Chinese character carries roughly a word; weigh Latin letters by average word length.
    return "zh" if cjk >= latin / 5 else "en"
