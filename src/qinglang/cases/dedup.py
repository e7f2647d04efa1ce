"""Which open case a new report belongs to: same canonical URL, same or near-duplicate text, or same image.

Near-duplicate text uses MinHash LSH (datasketch) over character shingles of the normalised text; images
match by MD5 or by PDQ within Hamming distance 31. The in-memory LSH and PDQ lists are refreshed from the
database inside the caller's write transaction, so reports processed by other processes are seen too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache

from datasketch import MinHash, MinHashLSH
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qinglang.media.hashing import PDQ_MATCH_THRESHOLD, hamming
from qinglang.store.models import Case, Report, ReportImage
from qinglang.taxonomy import OPEN_CASE_STATES
from qinglang.text.normalize import normalize

NUM_PERM = 64
THRESHOLD = 0.7
MIN_CHARS = 12  # shorter texts only match exactly: a few shared characters mean nothing


def _shingles(norm: str, k: int = 3) -> set[bytes]:
    t = norm.replace(" ", "")
    if len(t) <= k:
        return {t.encode()}
    return {t[i:i + k].encode() for i in range(len(t) - k + 1)}


@lru_cache(maxsize=1)
def _template() -> MinHash:
    """The seeded permutations, drawn once: drawing them is most of the cost of a new MinHash."""
    return MinHash(num_perm=NUM_PERM, seed=7)


@lru_cache(maxsize=4096)  # a report's text is hashed to query and again to insert; never mutated after
def minhash(norm: str) -> MinHash:
    t = _template()
    m = MinHash(num_perm=NUM_PERM, seed=7, permutations=t.permutations, scheme=t.scheme)
    m.update_batch(list(_shingles(norm)))
    return m


def warm(texts: list[str]) -> None:
    """Compute the MinHash signatures of these texts into the cache (outside any lock or transaction)."""
    for text in texts:
        norm = normalize(text) if text else ""
        if len(norm) >= MIN_CHARS:
            minhash(norm)


class DedupIndex:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
        self.exact: dict[str, int] = {}  # normalised text -> case id
        self.key_case: dict[str, int] = {}
        self.pdq: list[tuple[str, int]] = []
        self.last_report_id = 0

    def refresh(self, session: Session) -> None:
        """Add reports that other transactions attached to cases since the last refresh."""
        top = session.execute(select(func.max(Report.id))).scalar() or 0
        if top < self.last_report_id:  # the database was restored or replaced: start over
            self._reset()
        rows = session.execute(
            select(Report.id, Report.text, Report.case_id).where(Report.id > self.last_report_id)
            .where(Report.case_id.is_not(None)).order_by(Report.id)).all()
        for rid, text, case_id in rows:
            if case_id is not None:
                self.add_text(rid, text, case_id)
            self.last_report_id = max(self.last_report_id, rid)
        if rows:
            lo = rows[0][0]
            for pdq, case_id in session.execute(
                    select(ReportImage.pdq, Report.case_id).join(Report, Report.id == ReportImage.report_id)
                    .where(ReportImage.report_id >= lo).where(ReportImage.pdq.is_not(None))):
                if pdq is not None and case_id is not None:
                    self.pdq.append((pdq, case_id))

    def add_text(self, report_id: int, text: str, case_id: int) -> None:
        norm = normalize(text) if text else ""
        if not norm:
            return
        self.exact.setdefault(norm, case_id)
        if len(norm) >= MIN_CHARS:
            key = f"r{report_id}"
            if key not in self.key_case:
                self.lsh.insert(key, minhash(norm))
                self.key_case[key] = case_id

    def text_case(self, text: str) -> int | None:
        norm = normalize(text) if text else ""
        if not norm:
            return None
        if norm in self.exact:
            return self.exact[norm]
        if len(norm) < MIN_CHARS:
            return None
        hits = self.lsh.query(minhash(norm))
        return min((self.key_case[h] for h in hits), default=None)

    def pdq_case(self, pdq: str) -> int | None:
        best: tuple[int, int] | None = None
        for other, case_id in self.pdq:
            d = hamming(pdq, other)
            if d <= PDQ_MATCH_THRESHOLD and (best is None or d < best[0]):
                best = (d, case_id)
        return best[1] if best else None


@dataclass
class Recent:
    """Assignments made earlier in the same write transaction (not flushed yet): URL and image MD5 → case id."""

    urls: dict[str, int] = field(default_factory=dict)
    md5s: dict[str, int] = field(default_factory=dict)
    urls_complete: bool = False  # `urls` was prefetched for every URL in the batch: a miss means no open case

    def prefetch_urls(self, session: Session, urls: set[str]) -> None:
        """One query for the open cases of all these URLs (instead of one per report)."""
        if urls:
            for url, cid in session.execute(
                    select(Case.canonical_url, func.min(Case.id)).where(Case.canonical_url.in_(urls))
                    .where(Case.state.in_(OPEN_CASE_STATES)).group_by(Case.canonical_url)):
                self.urls.setdefault(url, cid)
        self.urls_complete = True


def find_case(session: Session, index: DedupIndex, report: Report, images: list[ReportImage],
              recent: Recent | None = None) -> tuple[int, str] | None:
    """(open case id, why) for this report, or None when it starts a new case."""
    recent = recent or Recent()
    candidates: list[tuple[int, str]] = []
    if report.canonical_url:
        cid = recent.urls.get(report.canonical_url)
        if cid is None and not recent.urls_complete:
            cid = session.execute(select(Case.id).where(Case.canonical_url == report.canonical_url)
                                  .where(Case.state.in_(OPEN_CASE_STATES)).order_by(Case.id).limit(1)).scalar()
            if cid:
                return cid, "same URL"  # the query only finds open cases
        if cid:
            candidates.append((cid, "same URL"))
    if not candidates and report.text:
        cid = index.text_case(report.text)
        if cid:
            candidates.append((cid, "same or near-duplicate text"))
    if not candidates:
        for img in images:
            cid = recent.md5s.get(img.md5) or session.execute(
                select(Report.case_id).join(ReportImage, ReportImage.report_id == Report.id)
                .where(ReportImage.md5 == img.md5).where(Report.case_id.is_not(None))
                .where(Report.id != report.id).limit(1)).scalar()
            if cid is None and img.pdq:
                cid = index.pdq_case(img.pdq)
            if cid:
                candidates.append((cid, "same image"))
                break
    for cid, why in candidates:
        case = session.get(Case, cid)  # usually already in the session's identity map
        if case is not None and case.state in OPEN_CASE_STATES:
            return cid, why
    return None
