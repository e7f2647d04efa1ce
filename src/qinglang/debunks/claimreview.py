"""schema.org ClaimReview for a published debunk, as search engines and fact-check aggregators read it.

Pure function over the ORM object; never include unpublished versions or reviewer identities.
"""

from __future__ import annotations

from typing import Any

from qinglang.debunks.registry import current
from qinglang.store.models import Debunk
from qinglang.taxonomy import VERDICT_RATING, VERDICTS

LANG_TAGS = {"zh": "zh-CN", "en": "en"}


def claim_review(debunk: Debunk, base_url: str) -> dict[str, Any]:
    """The ClaimReview JSON-LD object for `debunk`, with its page at `base_url`/debunks/{id}."""
    v = current(debunk)
    lang = debunk.lang
    verdict = next(x for x in VERDICTS if x.code == v.verdict)
    url = f"{base_url.rstrip('/')}/debunks/{debunk.id}"
    org = debunk.org
    # Where the claim was seen: the wordings it circulates in (the registry keeps texts, not the posts' URLs).
    appearances = [{"@type": "CreativeWork", "text": text} for text in [v.claim, *v.variants]]
    out: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "url": url,
        "claimReviewed": v.claim,
        "inLanguage": LANG_TAGS.get(lang, lang),
        "reviewRating": {
            "@type": "Rating",
            "ratingValue": VERDICT_RATING[v.verdict],
            "bestRating": 5,
            "worstRating": 1,
            "alternateName": verdict.name(lang),
        },
        "author": {"@type": "Organization", "name": org.name(lang) if org else "",
                   "alternateName": org.key if org else ""},
        "itemReviewed": {"@type": "Claim", "name": v.claim, "appearance": appearances,
                         "inLanguage": LANG_TAGS.get(lang, lang)},
        "reviewBody": v.summary,
        "citation": [{"@type": "CreativeWork", "url": s["url"], "name": s.get("title") or s["url"]}
                     for s in v.sources if s.get("url")],
    }
    if debunk.published_at:
        out["datePublished"] = debunk.published_at.date().isoformat()
    if debunk.updated_at:
        out["dateModified"] = debunk.updated_at.date().isoformat()
    return out
