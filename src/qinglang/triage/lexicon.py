"""Abuse word lists as one fast matcher: glin-profanity's English and Chinese lists plus our own zh list.

Lists are compiled once into a regular expression (English on word boundaries, Chinese as substrings,
minus one-character Chinese entries, which hit ordinary words such as 乳制品). Never decides alone:
a hit is a reason and a feature for the abuse detector, not a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Our own list: insults and slurs common on Chinese platforms, including pinyin/abbreviated forms.
ZH_ABUSE: tuple[str, ...] = (
    "傻逼", "傻b", "煞笔", "沙比", "sb", "脑残", "智障", "弱智", "白痴", "废物", "垃圾东西", "去死", "狗东西",
    "贱人", "贱货", "婊子", "绿茶婊", "死全家", "你妈死了", "nmsl", "cnm", "草泥马", "操你妈", "滚犊子",
    "王八蛋", "畜生", "杂种", "狗杂种", "人渣", "败类", "猪脑子", "死胖子", "丑八怪", "神经病", "孽畜",
    "黑鬼", "阿三", "棒子", "小日本", "支那", "蝗虫", "娘炮", "死基佬", "女拳", "田园女权", "普信男",
    "老不死", "乡巴佬", "臭外地", "地域黑", "低等民族", "杀光", "全都去死", "活该被", "社会性死亡",
)
# English insults the package's list (mostly sexual terms) lacks.
EN_ABUSE: tuple[str, ...] = (
    "idiot", "idiots", "moron", "morons", "stupid", "dumbass", "retard", "retarded", "loser", "worthless",
    "scum", "trash", "garbage person", "kill yourself", "kys", "go die", "shut up", "piece of shit", "imbecile",
    "pathetic", "ugly pig", "fat pig", "subhuman", "vermin", "disgusting",
)
# Words in the package's zh list that are ordinary in news and health text.
_ZH_SKIP = {"乳房", "乳头", "交配", "13.", "九游", "你全家"}


@dataclass(frozen=True)
class LexiconHit:
    word: str
    span: tuple[int, int]


class AbuseLexicon:
    """Find abuse words in prepared (normalised, lower-case) text."""

    def __init__(self, en_words: list[str], zh_words: list[str]) -> None:
        en = sorted({w.lower() for w in en_words if len(w) >= 3}, key=len, reverse=True)
        zh = sorted({w.lower() for w in zh_words if len(w) >= 2} - _ZH_SKIP, key=len, reverse=True)
        # A trie-shaped pattern: the regex engine walks shared prefixes once instead of trying 700 words.
        self._en = re.compile(r"(?<![a-z0-9])" + _trie_pattern(en) + r"(?![a-z0-9])") if en else None
        self._zh = re.compile(_trie_pattern(zh)) if zh else None
        self.size = len(en) + len(zh)

    def find(self, prepared: str) -> list[LexiconHit]:
        hits: list[LexiconHit] = []
        if self._zh is not None and _CJK.search(prepared):
            hits += [LexiconHit(m.group(0), m.span()) for m in self._zh.finditer(prepared)]
        if self._en is not None and _LATIN.search(prepared):
            hits += [LexiconHit(m.group(0), m.span()) for m in self._en.finditer(prepared)]
        return sorted(hits, key=lambda h: h.span)


_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[a-z]")


def _trie_pattern(words: list[str]) -> str:
    """A regex matching any of ``words``, longest first, built as a prefix tree."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict) -> str:  # type: ignore[type-arg]
        end = "" in node
        alts = [re.escape(ch) + walk(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if end else body

    return "(?:" + walk(trie) + ")"


@lru_cache(maxsize=1)
def default_lexicon() -> AbuseLexicon:
    """glin-profanity's bundled English and Chinese lists (read offline) plus `ZH_ABUSE`."""
    from glin_profanity.data.dictionary import DictionaryLoader

    loader = DictionaryLoader()
    en = list(loader.get_words("english"))
    zh = [w for w in loader.get_words("chinese") if re.search(r"[\u4e00-\u9fff]", w)]
    return AbuseLexicon(en + list(EN_ABUSE), zh + list(ZH_ABUSE))
