"""The explained priority of a case: severity × reach × campaign boost × reporter trust.

Each factor is kept in the explanation so reviewers see why a case sits where it does. Pure function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qinglang.taxonomy import CATEGORY_BY_CODE


@dataclass(frozen=True)
class PriorityInput:
    category: str
    reporters: int
    claimed_views: int
    campaign_boost: float = 1.0
    campaign: str | None = None
    trust: float = 1.0
    detector_boost: float = 1.0
    detector_reason: str = ""


def reporter_trust(*, trusted_flagger: bool, accepted: int, rejected: int) -> float:
    """Trusted flaggers count double; reporters whose reports are mostly rejected count less (floor 0.3)."""
    if trusted_flagger:
        return 2.0
    total = accepted + rejected
    if total == 0:
        return 1.0
    # Laplace-smoothed acceptance rate, so one rejection does not silence a new reporter.
    rate = (accepted + 1) / (total + 2)
    return round(max(0.3, min(1.5, 2 * rate)), 3)


def compute(p: PriorityInput) -> tuple[float, dict[str, Any]]:
    cat = CATEGORY_BY_CODE[p.category]
    severity = cat.severity / 5
    reach = 1 + math.log2(1 + max(0, p.reporters)) + math.log10(1 + max(0, p.claimed_views)) / 2
    score = severity * reach * p.campaign_boost * p.trust * p.detector_boost
    explain = {
        "score": round(score, 4),
        "formula": "severity × reach × campaign_boost × reporter_trust × detector_boost",
        "severity": {"value": round(severity, 3), "why": f"category {cat.code} severity {cat.severity}/5"},
        "reach": {"value": round(reach, 3),
                  "why": f"{p.reporters} distinct reporter(s), {p.claimed_views} claimed view(s)"},
        "campaign_boost": {"value": p.campaign_boost,
                           "why": f"special action {p.campaign}" if p.campaign else "no active special action"},
        "reporter_trust": {"value": p.trust, "why": "mean trust of the case's reporters"},
        "detector_boost": {"value": p.detector_boost, "why": p.detector_reason or "no detector fired"},
    }
    return score, explain
