"""Word segmentation for Chinese and English, on normalised text.

Chinese runs go through rjieba (jieba's dictionary); Latin runs split on word boundaries.
Punctuation and whitespace never become tokens.
"""

from __future__ import annotations

import re

import rjieba

from qinglang.text.normalize import normalize

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:['.][a-z0-9]+)*")


def tokens(text: str, *, normalised: bool = False) -> list[str]:
    """Tokens of ``text``: jieba words for Chinese, lower-case words for everything else."""
    t = text if normalised else normalize(text)
    out: list[str] = []
    for m in _WORD.finditer(t):
        w = m.group(0)
        if _CJK_RUN.fullmatch(w):
            out.extend(x for x in rjieba.cut(w) if x.strip())
        else:
            out.append(w)
    return out
