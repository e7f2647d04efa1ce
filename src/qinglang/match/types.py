"""Plain data passed in and out of the claim matcher. No behaviour beyond validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

BANDS = ("match", "possible", "none")


@dataclass(frozen=True)
class ClaimDoc:
    """One debunk as the matcher sees it: the main claim plus known variants/aliases, a title and the date it was
    first published (None when unknown)."""

    id: str
    claim: str
    variants: tuple[str, ...] = ()
    title: str = ""
    lang: str = "und"
    published: date | None = None


@dataclass(frozen=True)
class MatchHit:
    """A ranked debunk for a text.

    ``score`` is a calibrated probability that the debunk is a correct match; ``band`` is ``match``
    (safe to show the public), ``possible`` (for a reviewer) or ``none``; ``matched_text`` is the claim,
    variant or title that matched best.
    """

    id: str
    score: float
    band: str
    explanation: str
    matched_text: str
