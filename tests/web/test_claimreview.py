"""ClaimReview JSON-LD built from a real debunk in the registry."""

from __future__ import annotations

from qinglang.auth.policy import Principal
from qinglang.debunks import registry
from qinglang.debunks.claimreview import claim_review
from qinglang.store.db import Database
from qinglang.store.models import User


def test_claim_review_carries_rating_author_dates_and_appearances(db: Database, staff: object) -> None:
    org_id = staff.org("factcheck", kind="fact_checker")  # type: ignore[attr-defined]
    staff.user("ed", "expert", org="factcheck")  # type: ignore[attr-defined]
    with db.write() as s:
        user = s.query(User).filter_by(username="ed").one()
        data = registry.DebunkInput(claim="喝醋能预防病毒感染", verdict="false", summary="醋不能预防病毒感染。",
                                    explanation="", lang="zh", variants=["每天喝一勺醋百病不侵"],
                                    sources=[{"url": "https://example.org/vinegar", "title": "说明"}])
        d = registry.create(s, Principal.of(user, via="cli"), data, org_id=org_id, status="published")
        d = registry.get(s, d.id)
        cr = claim_review(d, "https://qinglang.example/")
    assert cr["@type"] == "ClaimReview" and cr["@context"] == "https://schema.org"
    assert cr["url"] == f"https://qinglang.example/debunks/{d.id}"
    assert cr["claimReviewed"] == "喝醋能预防病毒感染"
    assert cr["inLanguage"] == "zh-CN"
    assert cr["reviewRating"] == {"@type": "Rating", "ratingValue": 1, "bestRating": 5, "worstRating": 1,
                                  "alternateName": "谣言（不实）"}
    assert cr["author"]["@type"] == "Organization" and cr["author"]["name"] == "factcheck 中文"
    assert cr["itemReviewed"]["@type"] == "Claim"
    assert [a["text"] for a in cr["itemReviewed"]["appearance"]] == ["喝醋能预防病毒感染", "每天喝一勺醋百病不侵"]
    assert cr["datePublished"] == d.published_at.date().isoformat()
    assert cr["citation"][0]["url"] == "https://example.org/vinegar"
