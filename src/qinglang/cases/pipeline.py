"""The background pass over new reports: match → triage → dedup into a case → route → prioritise.

Runs as the batched `process_report` job: embedding and classification happen for the whole batch outside the
write transaction; the case changes for the batch commit in one short transaction. The same function serves
the in-process worker and a scaled-out queue.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qinglang import audit
from qinglang.cases import dedup, intel, priority
from qinglang.cases.routing import route
from qinglang.cases.triage_bridge import blocklist_entries, link_indicators
from qinglang.cases.webhooks import emit
from qinglang.jobs.worker import handler
from qinglang.observability import REPORTS_PROCESSED
from qinglang.store.db import Database
from qinglang.store.models import ApiToken, Campaign, Case, Report, ReportImage, RoutingRule
from qinglang.taxonomy import CATEGORY_BY_CODE

log = structlog.get_logger("qinglang.pipeline")
WRITE_CHUNK = 32
# While reports are arriving fast, the pipeline's write transactions stay this small: on SQLite every intake
# commit waits for the transaction in progress, and the intake p99 is the price of the longest one.
BUSY_WRITE_CHUNK = 2
BUSY_ARRIVALS_PER_SECOND = 20
BUSY_PAUSE = 50.0  # after each busy-mode transaction, pause this many times its duration (~2 % lock share)
BUSY_PAUSE_MAX = 1.0  # seconds
ANALYZE_NICENESS = 10


def _background() -> None:
    """The analysis thread (embedding, matching, classifiers) runs below normal priority, where Linux allows a
    per-thread nice value: it yields the CPU to request handling and to the pipeline's own short writes (a
    niced writer would hold the database lock longer while it waits for the CPU)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ANALYZE_NICENESS)
    except (OSError, AttributeError):
        pass


def _write_step(db: Database) -> int:
    """Reports per write transaction: small while intake is busy, else large.

    Busy: more than BUSY_ARRIVALS_PER_SECOND reports arrived in the last second, read from the creation time of
    the report that many places below the newest (one primary-key lookup, nothing remembered between calls, so
    the first chunk after a quiet spell already sees a flood that has just begun)."""
    if not db.is_sqlite:
        return WRITE_CHUNK  # PostgreSQL: row locks, intake never waits for the pipeline
    with db.read() as s:
        nth = s.execute(select(Report.created_at).order_by(Report.id.desc())
                        .offset(int(BUSY_ARRIVALS_PER_SECOND)).limit(1)).scalar()
    if nth is None:
        return WRITE_CHUNK
    if nth.tzinfo is None:
        nth = nth.replace(tzinfo=UTC)
    return BUSY_WRITE_CHUNK if (datetime.now(UTC) - nth).total_seconds() < 1.0 else WRITE_CHUNK


_dedup: dict[str, dedup.DedupIndex] = {}


def _dedup_index(db: Database) -> dedup.DedupIndex:
    index = _dedup.get(db.url)
    if index is None:
        index = _dedup[db.url] = dedup.DedupIndex()
    return index


def _match_texts(db: Database, texts: list[str]) -> list[tuple[int, float] | None]:
    """The best `match`-band debunk per text (None for no text or no match)."""
    from qinglang.match.store_source import holder

    out: list[tuple[int, float] | None] = [None] * len(texts)
    idx = [i for i, t in enumerate(texts) if t.strip()]
    if not idx:
        return out
    matcher = holder(db).get()
    if len(matcher) == 0:
        return out
    for i, hits in zip(idx, matcher.match_many([texts[i] for i in idx], top_k=1), strict=True):
        if hits and hits[0].band == "match":
            out[i] = (int(hits[0].id), float(hits[0].score))
    return out


def active_campaign(session: Session, category: str, now: datetime) -> Campaign | None:
    for c in session.execute(select(Campaign).where(Campaign.starts_at <= now, Campaign.ends_at >= now)
                             .order_by(Campaign.boost.desc())).scalars():
        if category in (c.categories or []):
            return c
    return None


def _trust(session: Session, case_id: int) -> float:
    """Mean trust of the case's distinct reporters, from their history on other cases."""
    return _trust_many(session, [case_id])[case_id]


def _trust_many(session: Session, case_ids: list[int]) -> dict[int, float]:
    """`_trust` for many cases in three queries (the cases' reporters, their totals, their counts on these cases)."""
    reporters: dict[int, dict[str, bool]] = {cid: {} for cid in case_ids}
    for cid, key, flagger in session.execute(
            select(Report.case_id, Report.reporter_key, ApiToken.trusted_flagger)
            .outerjoin(ApiToken, ApiToken.id == Report.token_id).where(Report.case_id.in_(case_ids))):
        per = reporters[cid]
        per[key] = per.get(key, False) or bool(flagger)
    keys = list({k for per in reporters.values() for k in per})
    totals: dict[tuple[str, bool], int] = {}  # per reporter over every case
    own: dict[tuple[str, int, bool], int] = {}  # per reporter on the cases at hand (not history for them)
    if keys:
        for key, rejected, n in session.execute(
                select(Report.reporter_key, Report.rejected, func.count()).where(Report.reporter_key.in_(keys))
                .where(Report.case_id.is_not(None)).group_by(Report.reporter_key, Report.rejected)):
            totals[(key, bool(rejected))] = int(n)
        for key, cid, rejected, n in session.execute(
                select(Report.reporter_key, Report.case_id, Report.rejected, func.count())
                .where(Report.case_id.in_(case_ids)).group_by(Report.reporter_key, Report.case_id, Report.rejected)):
            own[(key, cid, bool(rejected))] = int(n)
    out: dict[int, float] = {}
    for cid, per in reporters.items():
        if not per:
            out[cid] = 1.0
            continue
        values = [priority.reporter_trust(  # history on other cases: this case's reports do not count
            trusted_flagger=per[k],
            accepted=totals.get((k, False), 0) - own.get((k, cid, False), 0),
            rejected=totals.get((k, True), 0) - own.get((k, cid, True), 0)) for k in per]
        out[cid] = round(sum(values) / len(values), 3)
    return out


def refresh_priority(session: Session, case: Case, *, now: datetime | None = None, trust: float | None = None,
                     campaigns: dict[str, Campaign | None] | None = None) -> None:
    """Recompute the case's priority and its explanation (``trust``/``campaigns``: precomputed for a batch)."""
    now = now or datetime.now(UTC)
    if case.campaign_id:
        camp = session.get(Campaign, case.campaign_id)
    elif campaigns is not None:
        if case.category not in campaigns:
            campaigns[case.category] = active_campaign(session, case.category, now)
        camp = campaigns[case.category]
    else:
        camp = active_campaign(session, case.category, now)
    boost, why = 1.0, ""
    detectors = (case.triage or {}).get("detectors", {})
    fired = [f"{k} {v.get('score', 0):.2f}" for k, v in detectors.items()
             if isinstance(v, dict) and v.get("score", 0) >= 0.8 and k != "misinfo"]
    if fired:
        boost, why = 1.2, "detector(s) fired: " + ", ".join(fired)
    flagged = [h["bank"] for h in (case.triage or {}).get("hash_bank_hits", []) if h.get("policy") == "auto_flag"]
    if flagged:
        boost, why = 2.0, "known harmful image (hash bank " + ", ".join(sorted(set(flagged))) + ")"
    score, explain = priority.compute(priority.PriorityInput(
        category=case.category, reporters=case.reporter_count, claimed_views=case.claimed_views,
        campaign_boost=camp.boost if camp else 1.0, campaign=camp.key if camp else None,
        trust=_trust(session, case.id) if trust is None else trust, detector_boost=boost, detector_reason=why))
    case.priority = score
    case.priority_explain = explain


def _new_case(session: Session, report: Report, now: datetime, campaigns: dict[str, Campaign | None],
              rules: list[RoutingRule] | None = None) -> Case:
    if report.category not in campaigns:
        campaigns[report.category] = active_campaign(session, report.category, now)
    camp = campaigns[report.category]
    case = Case(category=report.category, state="new", canonical_url=report.canonical_url, report_count=0,
                reporter_count=0, claimed_views=0,
                platform=report.platform, campaign_id=camp.id if camp else None, first_reported_at=report.created_at,
                last_reported_at=report.created_at, created_at=now, updated_at=now,
                due_at=report.created_at + CATEGORY_BY_CODE[report.category].sla)
    session.add(case)
    session.flush()
    r = route(session, category=case.category, platform=case.platform, campaign_id=case.campaign_id, rules=rules)
    if r is not None:
        case.org_id = r.org_id
        case.state = "routed"
    audit.record(session, actor="system:pipeline", action="case.create", object_type="case", object_id=case.id,
                 summary={"category": case.category, "routed_to": case.org_id, "why": r.reason if r else "no org",
                          "report": report.id})
    if r is not None:
        _emit(session, case, "case.routed", {"reason": r.reason})
    return case


def _emit(session: Session, case: Case, event: str, extra: dict[str, Any]) -> None:
    if case.org_id is not None:
        emit(session, org_id=case.org_id, event=event, payload={"case": _webhook_case(case), **extra})


def _webhook_case(case: Case) -> dict[str, Any]:
    return {"id": case.id, "category": case.category, "state": case.state, "url": case.canonical_url,
            "platform": case.platform, "reporter_count": case.reporter_count, "debunk_id": case.debunk_id,
            "due_at": case.due_at.isoformat() if case.due_at else None}


def process_reports(db: Database, report_ids: list[int]) -> int:
    """Process these reports (skipping any already processed). Returns how many were processed."""
    with db.read() as s:
        reports = list(s.execute(select(Report).where(Report.id.in_(report_ids), Report.processed.is_(False))
                                 .order_by(Report.id)).scalars())
    if not reports:
        return 0
    with db.read() as s:
        blocklist = blocklist_entries(s)
    chunks = [reports[k:k + WRITE_CHUNK] for k in range(0, len(reports), WRITE_CHUNK)]
    # Two stages overlap on the two cores: while the database work for one chunk runs (Python, holding the GIL),
    # the next chunk is embedded and classified (ONNX Runtime and NumPy release the GIL). Short write
    # transactions also let intake commits interleave with the pipeline instead of queueing behind it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qinglang-analyze", initializer=_background) as pool:
        pending = pool.submit(_analyze, db, chunks[0])
        for i in range(len(chunks)):
            work = pending.result()
            if i + 1 < len(chunks):
                pending = pool.submit(_analyze, db, chunks[i + 1])
            step = _write_step(db)
            for k in range(0, len(work), step):
                started = time.monotonic()
                _apply(db, work[k : k + step], blocklist)
                if step < WRITE_CHUNK:  # intake is busy: hold SQLite's one write lock a bounded share of the time
                    time.sleep(min((time.monotonic() - started) * BUSY_PAUSE, BUSY_PAUSE_MAX))
    REPORTS_PROCESSED.inc(len(reports))
    return len(reports)


Analyzed = list[tuple[Report, tuple[int, float] | None, dict[str, Any] | None]]


def _analyze(db: Database, reports: list[Report]) -> Analyzed:
    texts = [r.text or "" for r in reports]
    dedup.warm(texts)  # MinHash signatures now, so the write transaction only looks them up
    matches = _match_texts(db, texts)
    triage = _triage(texts, [r.description for r in reports])
    for i, found in enumerate(_image_indicators(db, [r.id for r in reports])):
        if found:  # QR codes in screenshots: scam links and payment codes are indicators like typed ones
            tri = triage[i] or {}
            tri["indicators"] = _union_indicators(tri.get("indicators", []), found)
            triage[i] = tri
    return list(zip(reports, matches, triage, strict=True))


def _image_indicators(db: Database, report_ids: list[int]) -> list[list[dict[str, Any]]]:
    """Indicators decoded from each report's stored images (QR codes → qr, url, domain…)."""
    from PIL import Image

    from qinglang.text.indicators import from_image

    with db.read() as s:
        rows = s.execute(select(ReportImage.report_id, ReportImage.path)
                         .where(ReportImage.report_id.in_(report_ids))).all()
    per: dict[int, list[dict[str, Any]]] = {}
    for rid, path in rows:
        try:
            with Image.open(path) as img:
                found = from_image(img.convert("RGB"))
        except (OSError, ValueError) as exc:  # the file was checked at intake; a later loss is logged, not fatal
            log.warning("image_unreadable", report=rid, error=repr(exc)[:120])
            continue
        per.setdefault(rid, []).extend({"kind": x.kind, "value": x.value, "raw": x.raw} for x in found)
    return [per.get(rid, []) for rid in report_ids]


def _apply(db: Database, work: Analyzed, blocklist: list[Any]) -> None:
    index = _dedup_index(db)
    now = datetime.now(UTC)
    campaigns: dict[str, Campaign | None] = {}
    ids = [r.id for r, _, _ in work]
    with index.lock, db.write() as s, s.no_autoflush:
        index.refresh(s)
        rules = list(s.execute(select(RoutingRule)).scalars())
        rows = {r.id: r for r in s.execute(select(Report).where(Report.id.in_(ids), Report.processed.is_(False)))
                .scalars()}
        images_of: dict[int, list[ReportImage]] = {}
        for img in s.execute(select(ReportImage).where(ReportImage.report_id.in_(ids))).scalars():
            images_of.setdefault(img.report_id, []).append(img)
        touched: dict[int, Case] = {}
        links: list[tuple[Case, Report, list[dict[str, Any]]]] = []
        recent = dedup.Recent()  # this chunk's assignments, not yet flushed
        recent.prefetch_urls(s, {r.canonical_url for r in rows.values() if r.canonical_url})
        for report, match, tri in work:
            r = rows.get(report.id)
            if r is None:
                continue
            images = images_of.get(r.id, [])
            found = dedup.find_case(s, index, r, images, recent=recent)
            if found:
                case = s.get(Case, found[0])
                assert case is not None
                why = found[1]
            else:
                case = _new_case(s, r, now, campaigns, rules)
                why = "new case"
            r.case_id = case.id
            r.processed = True
            if match:
                r.debunk_id, r.match_score = match
                if case.debunk_id is None:
                    case.debunk_id = match[0]
            if tri:
                case.triage = _merge_triage(case.triage or {}, tri)
                links.append((case, r, tri.get("indicators", [])))
            if images:
                bank_hits = intel.match_images(s, [(i.md5, i.pdq) for i in images])
                if bank_hits:
                    case.triage = {**(case.triage or {}),
                                   "hash_bank_hits": (case.triage or {}).get("hash_bank_hits", []) + bank_hits}
            case.report_count += 1
            case.claimed_views = max(case.claimed_views, r.claimed_views)
            case.first_reported_at = min(case.first_reported_at, r.created_at)
            case.last_reported_at = max(case.last_reported_at, r.created_at)
            case.updated_at = now
            if r.canonical_url:
                recent.urls.setdefault(r.canonical_url, case.id)
            for img in images:
                recent.md5s.setdefault(img.md5, case.id)
            index.add_text(r.id, r.text, case.id)
            for img in images:
                if img.pdq:
                    index.pdq.append((img.pdq, case.id))
            index.last_report_id = max(index.last_report_id, r.id)
            audit.record(s, actor="system:pipeline", action="report.process", object_type="report",
                         object_id=r.id, summary={"case": case.id, "why": why, "debunk": r.debunk_id})
            touched[case.id] = case
        s.flush()
        link_indicators(s, links, blocklist)
        counts = dict(s.execute(select(Report.case_id, func.count(func.distinct(Report.reporter_key)))
                                .where(Report.case_id.in_(list(touched))).group_by(Report.case_id)).all())
        trust = _trust_many(s, list(touched))
        for case in touched.values():
            case.reporter_count = int(counts.get(case.id, 0))
            refresh_priority(s, case, now=now, trust=trust[case.id], campaigns=campaigns)


def _triage(texts: list[str], descriptions: list[str]) -> list[dict[str, Any] | None]:
    """Classifier and detector results per report (see qinglang.triage)."""
    from qinglang.cases.triage_bridge import analyze_reports

    return analyze_reports(texts, descriptions)


def _merge_triage(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The newest report's classifier results; indicators and hits accumulated over all the case's reports."""
    return {**old, **new, "indicators": _union_indicators(old.get("indicators", []), new.get("indicators", []))}


def _union_indicators(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    have = {(i["kind"], i["value"]) for i in old}
    return old + [i for i in new if (i["kind"], i["value"]) not in have]


@handler("process_report")
def process_report_job(db: Database, payloads: list[dict[str, Any]]) -> None:
    process_reports(db, [int(p["report_id"]) for p in payloads])
