"""Which open case a new report belongs to: same canonical URL, same or near-duplicate text, or same image.

Near-duplicate text uses MinHash LSH (datasketch) over character shingles of the normalised text; images
match by MD5 or by PDQ within Hamming distance 31. The in-memory LSH and PDQ lists are refreshed from the
database inside the caller's write transaction, so reports processed by other processes are seen too.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from datasketch import MinHash, MinHashLSH
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qinglang.arrays import GOLDEN, fmix32
from qinglang.cases.nearwalk import first_similar
from qinglang.media.hashing import PDQ_MATCH_THRESHOLD, hamming
from qinglang.store.models import Case, Report, ReportImage
from qinglang.taxonomy import OPEN_CASE_STATES
from qinglang.text.normalize import normalize

NUM_PERM = 64
THRESHOLD = 0.7  # Jaccard similarity of the character 3-shingle sets
# LSH bands x rows: the candidate probability 1 - (1 - J^4)^16 is 0.99 at J = 0.7 and 0.12 at J = 0.3 (the
# datasketch default for 0.7, 8 x 8, finds only 57 % of pairs at J = 0.75). Candidates are then checked
# against the exact Jaccard of the stored shingle codes, so the loose bands add no false joins.
LSH_BANDS = (16, 4)
# Candidates are pre-checked by a sketch of SKETCH one-byte minwise hashes (b-bit minwise hashing, b = 8: two
# texts agree on a position with probability J + (1 - J) / 256). Those whose agreement is ESTIMATE_MARGIN below
# THRESHOLD skip the exact check: a pair at J = 0.7 is dropped with probability 0.3 % (2.8 standard deviations),
# while most pairs at J = 0.6 are. With the 64 MinHash values of the LSH the margin had to be 0.15 (2.4 standard
# deviations), and templated reports at J = 0.5-0.6 to each other all went to the exact check.
SKETCH = 256
ESTIMATE_MARGIN = 0.08
MIN_CHARS = 12  # shorter texts only match exactly: a few shared characters mean nothing
REFRESH_RECHECK = 1000  # see `DedupIndex.refresh`
REFRESH_BY_RANGE = 1000  # a refresh with more new reports than this reads them by id range, not by an id list


def _shingles(norm: str, k: int = 3) -> np.ndarray:
    """32-bit codes of the text's character 3-shingles (spaces removed), computed with NumPy: the three code
    points (21 bits each) packed into 64 bits, then folded to 32 by a multiplicative hash (distinct shingles
    collide with probability about 2^-32)."""
    t = norm.replace(" ", "")
    cp = np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(cp) < k:
        cp = np.concatenate([cp, np.zeros(k - len(cp), dtype=np.uint64)])
    key = (cp[: len(cp) - 2] << np.uint64(42)) | (cp[1 : len(cp) - 1] << np.uint64(21)) | cp[2:]
    return np.unique(((key * GOLDEN) >> np.uint64(32)).astype(np.uint32))


@lru_cache(maxsize=1)
def _template() -> MinHash:
    """The seeded permutations (affine mod 2^32), drawn once: drawing them is most of the cost of a new MinHash."""
    t = MinHash(num_perm=NUM_PERM, seed=7, scheme="affine32")
    assert t.permutations[0].dtype == np.uint32
    return t


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """SKETCH affine permutations: the LSH template's NUM_PERM first, then more from a fixed seed."""
    a, b = _template().permutations
    rng = np.random.default_rng(11)
    extra = SKETCH - NUM_PERM
    a2 = rng.integers(1, 2**32, size=extra, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    b2 = rng.integers(0, 2**32, size=extra, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([a, a2]), np.concatenate([b, b2])


@dataclass(frozen=True)
class TextSig:
    """A report text's dedup form: normalised, and (when long enough) its shingle codes (sorted), MinHash values
    (for the LSH) and one-byte sketch (to pre-check candidates). The values are kept as the array the LSH keys are
    cut from: building a datasketch `MinHash` around them cost more than the lookup that reads them."""

    norm: str
    codes: np.ndarray | None = None
    values: np.ndarray | None = None
    sketch: np.ndarray | None = None

    @property
    def minhash(self) -> MinHash | None:
        """The values as a datasketch `MinHash` (the hash values `MinHash.update` would give the shingles)."""
        return _minhash(self.values) if self.values is not None else None


def _minhash(values: np.ndarray) -> MinHash:
    t = _template()
    return MinHash(num_perm=NUM_PERM, seed=7, hashvalues=values, permutations=t.permutations, scheme=t.scheme)


def compute(text: str) -> TextSig:
    """Per affine permutation, the minimum over the mixed shingle codes, as one NumPy expression (datasketch's
    per-value hashing loop cost more than the rest of dedup)."""
    norm = normalize(text) if text else ""
    if len(norm) < MIN_CHARS:
        return TextSig(norm)
    a, b = _permutations()
    codes = _shingles(norm)
    with np.errstate(over="ignore"):
        values = (fmix32(codes)[:, None] * a + b).min(axis=0)
    return TextSig(norm, codes, values[:NUM_PERM].copy(), values.astype(np.uint8))


_CACHE: OrderedDict[str, TextSig] = OrderedDict()  # a text is looked up and indexed more than once
_CACHE_SIZE = 8192
_cache_lock = threading.Lock()


def _remember(text: str, sig: TextSig) -> TextSig:
    with _cache_lock:
        _CACHE[text] = sig
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return sig


def signature(text: str) -> TextSig:
    """The text's `TextSig`, cached."""
    sig = _CACHE.get(text)
    return sig if sig is not None else _remember(text, compute(text))


Portable = tuple[str, np.ndarray | None, np.ndarray | None, np.ndarray | None]


def portable(text: str) -> Portable:
    """`compute` in a form that crosses a process boundary cheaply (see `remember`)."""
    sig = compute(text)
    return sig.norm, sig.codes, sig.values, sig.sketch


def remember(text: str, form: Portable) -> None:
    """Cache a signature computed elsewhere (an analysis helper process) by `portable`."""
    norm, codes, values, sketch = form
    _remember(text, TextSig(norm, codes, values, sketch))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted arrays of unique codes."""
    shared = len(np.intersect1d(a, b, assume_unique=True))
    return shared / max(len(a) + len(b) - shared, 1)


def warm(texts: list[str]) -> None:
    """Compute the signatures of these texts into the cache (outside any lock or transaction)."""
    for text in texts:
        signature(text)


class DedupIndex:
    """Open reports' texts (exact and near-duplicate) and image hashes, mapped to their cases.

    The LSH is keyed by case: a bucket holds the cases with a member text in it, once each, and a case's member
    texts are checked together. Templated reports (thousands of near-duplicates in a few clusters) then crowd the
    buckets with cases, not with every report, and the oldest qualifying case is found by checking cases oldest
    first. A case reached through any band has all its members checked, so a member that shares no band with the
    query can still be the near-duplicate found (never a false join: the exact Jaccard decides).
    ``small``: no LSH, every case is a candidate (the few texts one transaction adds)."""

    def __init__(self, *, small: bool = False) -> None:
        self.lock = threading.Lock()
        self._small = small
        self._reset()

    def _reset(self) -> None:
        self.lsh = None if self._small else MinHashLSH(num_perm=NUM_PERM, params=LSH_BANDS)  # keys: case ids
        # Per slot (one per indexed report): its sketch, its shingle codes (``_arena[_starts[slot]:_starts[slot +
        # 1]]``), its case, and the case's next member (-1 after the newest): what `nearwalk` walks.
        self._sketches = np.zeros((64, SKETCH), dtype=np.uint8)
        self._next = np.full(64, -1, dtype=np.int64)
        self._starts = np.zeros(65, dtype=np.int64)
        self._arena = np.zeros(4096, dtype=np.uint32)
        self._cases: list[int] = []
        self._head: dict[int, int] = {}  # case id -> its oldest member's slot
        self._tail: dict[int, int] = {}  # case id -> its newest member's slot
        self.exact: dict[str, int] = {}  # normalised text -> case id
        self.pdq: list[tuple[str, int]] = []
        self.floor = 0  # every processed report with an id up to this one is in the index
        self._above: set[int] = set()  # reports above the floor that are in the index

    def note(self, report_id: int) -> None:
        """The report was indexed by its own transaction (`add_text`): refreshes need not read it."""
        self._above.add(report_id)

    def refresh(self, session: Session) -> None:
        """Add the reports that other transactions attached to cases since the last refresh, whatever their ids:
        with several workers, reports are attached out of id order (one worker commits a later batch of jobs
        before another commits an earlier one). The floor below which everything processed is indexed moves up to
        the oldest report still unprocessed, but stays REFRESH_RECHECK ids below the newest report (on PostgreSQL a
        report can commit after one with a higher id); above it, the ids of the processed reports are read again at
        each refresh (from the index on `processed`, whose entries carry the row id: during a flood nearly every
        report above the floor is unprocessed), their texts only once."""
        top = session.execute(select(func.max(Report.id))).scalar() or 0
        if top < self.floor:  # the database was restored or replaced: start over
            self._reset()
        done = (Report.processed == True, Report.id > self.floor)  # noqa: E712 (an index lookup)
        new = [i for i in session.execute(select(Report.id).where(*done)).scalars() if i not in self._above]
        if new:
            wanted = set(new)
            rows = select(Report.id, Report.text, Report.case_id).where(Report.case_id.is_not(None))
            # By range at start-up (everything is new), else only the new ones.
            rows = rows.where(*done) if len(new) > REFRESH_BY_RANGE else rows.where(Report.id.in_(new))
            for rid, text, case_id in session.execute(rows.order_by(Report.id)):
                if rid in wanted and case_id is not None:
                    self.add_text(text, case_id)
            images = (select(ReportImage.report_id, ReportImage.pdq, Report.case_id)
                      .join(Report, Report.id == ReportImage.report_id).where(ReportImage.pdq.is_not(None)))
            images = (images.where(ReportImage.report_id >= min(new)) if len(new) > REFRESH_BY_RANGE
                      else images.where(ReportImage.report_id.in_(new)))
            for rid, pdq, case_id in session.execute(images):
                if rid in wanted and pdq is not None and case_id is not None:
                    self.pdq.append((pdq, case_id))
            self._above.update(new)
        first_open = session.execute(select(func.min(Report.id))  # from the floor up: a short walk on either backend
                                     .where(Report.processed == False, Report.id > self.floor)).scalar()  # noqa: E712
        floor = min(top if first_open is None else first_open - 1, top - REFRESH_RECHECK)
        if floor > self.floor:
            self.floor = floor
            self._above = {i for i in self._above if i > floor}

    def add_text(self, text: str, case_id: int) -> None:
        if not text:
            return
        sig = signature(text)
        if not sig.norm:
            return
        if sig.norm in self.exact:  # indexed already, or a repost: its near-duplicates already find that case
            return
        self.exact[sig.norm] = case_id
        if sig.values is not None and sig.codes is not None and sig.sketch is not None:
            slot = len(self._cases)
            if slot == len(self._sketches):
                self._sketches = np.concatenate([self._sketches, np.zeros_like(self._sketches)])
                self._next = np.concatenate([self._next, np.full_like(self._next, -1)])
                self._starts = np.concatenate([self._starts, np.zeros(slot, dtype=np.int64)])
            start = int(self._starts[slot])
            end = start + len(sig.codes)
            if end > len(self._arena):
                self._arena = np.concatenate([self._arena, np.zeros(max(end, len(self._arena)), dtype=np.uint32)])
            self._arena[start:end] = sig.codes
            self._starts[slot + 1] = end
            self._sketches[slot] = sig.sketch
            self._cases.append(case_id)
            if case_id in self._tail:
                self._next[self._tail[case_id]] = slot
            else:
                self._head[case_id] = slot
            self._tail[case_id] = slot
            if self.lsh is not None:  # a bucket is a set: a case already in it is not added twice
                for key, table in zip(self._band_keys(sig.values), self.lsh.hashtables, strict=True):
                    table.insert(key, case_id)

    def text_case(self, text: str, below: int | None = None) -> int | None:
        """The oldest case holding the same normalised text or a near-duplicate (Jaccard >= THRESHOLD); with
        ``below``, only a case older than that one (the caller already has it)."""
        if not text:
            return None
        sig = signature(text)
        if not sig.norm:
            return None
        if sig.norm in self.exact:
            found = self.exact[sig.norm]
            return found if below is None or found < below else None
        if sig.values is None or sig.codes is None or sig.sketch is None:
            return None
        if self.lsh is None:  # a small index: every case is a candidate
            cases = sorted(self._head)
        else:
            cases = self._lsh_cases(sig.values)
        if below is not None:
            cases = cases[: bisect_left(cases, below)]
        if not cases:
            return None
        # Members case by case, oldest case first, so that the first qualifying member belongs to the oldest case.
        heads = np.fromiter(map(self._head.__getitem__, cases), dtype=np.int64, count=len(cases))
        slot = first_similar(heads, self._next, self._sketches, sig.sketch, (THRESHOLD - ESTIMATE_MARGIN) * SKETCH,
                             self._starts, self._arena, sig.codes, THRESHOLD)
        return self._cases[slot] if slot >= 0 else None

    def _lsh_cases(self, values: np.ndarray) -> list[int]:
        """The cases with a member sharing a band with the MinHash ``values``, ascending: what ``MinHashLSH.query``
        returns, read from the same hash tables as one union of the bands' sets (its per-key insertions dominated
        dedup once the buckets were crowded)."""
        assert self.lsh is not None
        keys = self._band_keys(values)
        return sorted(set().union(*(table.get(key) for key, table in zip(keys, self.lsh.hashtables, strict=True))))

    def _band_keys(self, values: np.ndarray) -> list[bytes]:
        """The LSH's key of each band for the MinHash ``values``: its slice of the byte-swapped values (``lsh._H``
        swaps each slice), cut from one swap of all the values. Texts go into the LSH's band tables with these keys
        directly (`add_text`): ``MinHashLSH.insert`` also keeps a list of every key's band hashes, for removals
        this index never makes, and that bookkeeping cost as much as the rest of an insert."""
        lsh = self.lsh
        assert lsh is not None
        if lsh._H != lsh._byteswap:  # a hash function configured on the LSH: its own key per band
            return [lsh._H(values[start:end]) for start, end in lsh.hashranges]
        swapped = values.byteswap().tobytes()
        width = values.itemsize
        return [swapped[start * width : end * width] for start, end in lsh.hashranges]

    def pdq_case(self, pdq: str) -> int | None:
        best: tuple[int, int] | None = None
        for other, case_id in self.pdq:
            d = hamming(pdq, other)
            if d <= PDQ_MATCH_THRESHOLD and (best is None or d < best[0]):
                best = (d, case_id)
        return best[1] if best else None


@dataclass
class Recent:
    """Assignments made earlier in the same write transaction (not flushed yet): URL and image MD5 → case id,
    and the cases this transaction already holds (new ones are not in the session's identity map until flushed)."""

    urls: dict[str, int] = field(default_factory=dict)
    md5s: dict[str, int] = field(default_factory=dict)
    cases: dict[int, Case] = field(default_factory=dict)
    urls_complete: bool = False  # `urls` was prefetched for every URL in the batch: a miss means no open case

    text_cases: dict[int, int] = field(default_factory=dict)  # report id -> near-duplicate's case, looked up early
    local: DedupIndex | None = None  # the texts this transaction added, after `prefetch_cases` looked up the rest

    def prefetch_cases(self, session: Session, index: DedupIndex, reports: Iterable[Report]) -> None:
        """Look up the reports' near-duplicate texts and load the candidate cases (URL and text) in one query,
        instead of one primary-key lookup per report. A case found here stays the oldest match: cases
        created later in the transaction are newer."""
        for r in reports:
            if r.canonical_url and r.canonical_url in self.urls:
                continue  # joins the URL's open case (`find_case` looks at the URL first): no text search needed
            if r.text and (cid := index.text_case(r.text)) is not None:
                self.text_cases[r.id] = cid
        self.local = DedupIndex(small=True)
        ids = {i for i in (*self.urls.values(), *self.text_cases.values()) if i not in self.cases}
        if ids:
            for case in session.execute(select(Case).where(Case.id.in_(ids))).scalars():
                self.cases[case.id] = case

    def add_text(self, text: str, case_id: int) -> None:
        """Note a text added to the index in this transaction (see `text_case`)."""
        if self.local is not None:
            self.local.add_text(text, case_id)

    def text_case(self, index: DedupIndex, report: Report) -> int | None:
        """`index.text_case` for the report: after `prefetch_cases`, its early answer combined with the texts
        added since (a small index), instead of a second search of the whole index."""
        if self.local is None:
            return index.text_case(report.text)
        early = self.text_cases.get(report.id)
        local = self.local.text_case(report.text, below=early)  # only a case older than the early answer wins
        return local if local is not None else early

    def prefetch_urls(self, session: Session, urls: set[str]) -> None:
        """One query for the open cases of all these URLs (instead of one per report)."""
        if urls:
            # The open states are checked here, not in SQL: with both conditions SQLite's planner walked the state
            # index (nearly every case is open) instead of looking the URLs up.
            found: dict[str, int] = {}
            for url, cid, state in session.execute(
                    select(Case.canonical_url, Case.id, Case.state).where(Case.canonical_url.in_(urls))):
                if url is not None and state in OPEN_CASE_STATES and (url not in found or cid < found[url]):
                    found[url] = cid
            for url, cid in found.items():
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
        cid = recent.text_case(index, report)
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
        case = recent.cases.get(cid) or session.get(Case, cid)
        if case is not None and case.state in OPEN_CASE_STATES:
            return cid, why
    return None
