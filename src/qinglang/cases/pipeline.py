"""The background pass over new reports: match → triage → dedup into a case → route → prioritise.

Runs as the batched `process_report` job: embedding and classification happen for the whole batch outside the
write transaction; the case changes for the batch commit in one short transaction. The same function serves
the in-process worker and a scaled-out queue.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from qinglang import audit
from qinglang.cases import analysis, arrivals, dedup, intel, preanalysis, priority
from qinglang.cases.reporters import add_reports
from qinglang.cases.reporters import history as reporter_history
from qinglang.cases.routing import route
from qinglang.cases.triage_bridge import blocklist_entries, link_indicators
from qinglang.cases.webhooks import emit, queue_deliveries
from qinglang.jobs.worker import handler
from qinglang.observability import REPORTS_PROCESSED
from qinglang.store.db import Database
from qinglang.store.ids import IdBlock
from qinglang.store.models import ApiToken, Campaign, Case, Report, ReportImage, RoutingRule, WebhookDelivery
from qinglang.taxonomy import CATEGORY_BY_CODE

log = structlog.get_logger("qinglang.pipeline")
# Reports analysed per call: the re-ranker, the triage models and the embedder each have a fixed cost per call
# (input checks, thread hand-over), which chunks of 32 paid four times as often.
ANALYSIS_CHUNK = 128
# Reports per write transaction while intake is quiet: a whole analysis chunk, so that the costs paid per
# transaction (the commit's fsync, the dedup refresh, routing rules, campaigns, reporter lookups) are paid once
# per 128 reports (`benchmarks/bench_pipeline.py --reports 15000 --processes 2`, two runs each: the worker spent
# 1.25-1.44 ms per report at 128 against 1.69-1.95 at 32). Intake commits wait for the transaction in progress
# on SQLite, so while reports pour in the transactions shrink to BUSY_WRITE_CHUNK.
WRITE_CHUNK = ANALYSIS_CHUNK
BACKLOG_BATCH = 1024  # report jobs a worker round claims while intake is quiet (see `backlog_batch`)
HELD_BATCH_MAX = 4096  # at most this many more for reports analysed ahead (seconds of writes; jobs go stale after 300)
# While reports are arriving fast, the pipeline's write transactions stay this small: on SQLite every intake
# commit waits for the transaction in progress, and the intake p99 is the price of the longest one.
BUSY_WRITE_CHUNK = 2
BUSY_ARRIVALS_PER_SECOND = 20
BUSY_PAUSE = 50.0  # after each busy-mode transaction, pause this many times its duration (~2 % lock share)
BUSY_PAUSE_MAX = 1.0  # seconds
PAUSE_CHECK = 0.1  # seconds: during a pause, how often to look whether the flood is over


def _pause(db: Database, seconds: float) -> None:
    """Sleep up to ``seconds`` while intake stays busy: a pause ends as soon as the flood does, so the backlog
    starts draining then rather than up to BUSY_PAUSE_MAX later."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, PAUSE_CHECK))
        if not _intake_busy(db):
            return


def _intake_busy(db: Database) -> bool:
    """More than BUSY_ARRIVALS_PER_SECOND reports arrived in the last second, read from the creation time of the
    report that many places below the newest (one primary-key lookup, nothing remembered between calls, so the
    first chunk after a quiet spell already sees a flood that has just begun); not once this machine's API has
    received no report for a quarter of a second (`arrivals`: the end of a flood, seen without the table's
    one-second window)."""
    if arrivals.quiet(db):
        return False
    with db.read() as s:
        nth = s.execute(select(Report.created_at).order_by(Report.id.desc())
                        .offset(int(BUSY_ARRIVALS_PER_SECOND)).limit(1)).scalar()
    if nth is None:
        return False
    if nth.tzinfo is None:
        nth = nth.replace(tzinfo=UTC)
    return (datetime.now(UTC) - nth).total_seconds() < 1.0


def _write_step(db: Database, busy: bool | None = None) -> int:
    """Reports per write transaction: small while intake is busy on SQLite (its one write lock), else large.
    PostgreSQL has row locks: intake never waits for the pipeline."""
    if not db.is_sqlite:
        return WRITE_CHUNK
    return BUSY_WRITE_CHUNK if (_intake_busy(db) if busy is None else busy) else WRITE_CHUNK


_dedup: dict[str, dedup.DedupIndex] = {}


def _dedup_index(db: Database) -> dedup.DedupIndex:
    index = _dedup.get(db.url)
    if index is None:
        index = _dedup[db.url] = dedup.DedupIndex()
    return index


def active_campaign(session: Session, category: str, now: datetime) -> Campaign | None:
    return active_campaigns(session, now).get(category)


def active_campaigns(session: Session, now: datetime) -> dict[str, Campaign]:
    """Per category, the running campaign (special action) with the highest boost, in one query."""
    out: dict[str, Campaign] = {}
    for c in session.execute(select(Campaign).where(Campaign.starts_at <= now, Campaign.ends_at >= now)
                             .order_by(Campaign.boost.desc())).scalars():
        for category in c.categories or []:
            out.setdefault(category, c)
    return out


def _trust(session: Session, case_id: int) -> float:
    """Mean trust of the case's distinct reporters, from their history on other cases."""
    return _trust_many(session, [case_id])[case_id]


def _trust_many(session: Session, case_ids: list[int], joined: Counter[str] | None = None,
                distinct: dict[int, int] | None = None) -> dict[int, float]:
    """`_trust` for many cases in two queries: the cases' reports (reporter, trusted flagger, rejected), and those
    reporters' history counters (`cases.reporters`), from which their reports on the case at hand are taken out.
    ``joined``: reports per reporter attached to cases in this transaction and not yet counted in the counters.
    ``distinct``: filled with each case's number of distinct reporters (read by the same query)."""
    reporters: dict[int, dict[str, bool]] = {cid: {} for cid in case_ids}
    own: Counter[tuple[str, int, bool]] = Counter()  # per reporter on the cases at hand (not history for them)
    # Grouped in SQL: a case with thousands of reports returns a row per reporter, not per report.
    flagged = func.max(sql_case((ApiToken.trusted_flagger.is_(True), 1), else_=0))
    for cid, key, flagger, rejected, n in session.execute(
            select(Report.case_id, Report.reporter_key, flagged, Report.rejected, func.count())
            .outerjoin(ApiToken, ApiToken.id == Report.token_id).where(Report.case_id.in_(case_ids))
            .group_by(Report.case_id, Report.reporter_key, Report.rejected)):
        per = reporters[cid]
        per[key] = per.get(key, False) or bool(flagger)
        own[(key, cid, bool(rejected))] += int(n)
    if distinct is not None:
        distinct.update({cid: len(per) for cid, per in reporters.items()})
    totals = reporter_history(session, {k for per in reporters.values() for k in per})
    out: dict[int, float] = {}
    for cid, per in reporters.items():
        if not per:
            out[cid] = 1.0
            continue
        values = []
        for k in per:  # history on other cases: this case's reports do not count
            n, rejected = totals.get(k, (0, 0))
            n += joined[k] if joined else 0
            values.append(priority.reporter_trust(
                trusted_flagger=per[k], accepted=max(n - rejected - own[(k, cid, False)], 0),
                rejected=max(rejected - own[(k, cid, True)], 0)))
        out[cid] = round(sum(values) / len(values), 3)
    return out


def refresh_priority(session: Session, case: AnyCase, *, now: datetime | None = None, trust: float | None = None,
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


@dataclass(eq=False)
class NewCase:
    """A case this write transaction creates, as plain attributes: the transaction's new cases are inserted by one
    Core executemany (`_insert_new`) and their later changes (triage, reporters, priority) written by one more
    (`_update_new`), where the ORM's unit of work cost more per case than all the rest the pipeline does for it.
    The code that reads and changes cases takes either kind (`AnyCase`)."""

    id: int
    category: str
    canonical_url: str | None
    platform: str | None
    campaign_id: int | None
    first_reported_at: datetime
    last_reported_at: datetime
    due_at: datetime
    created_at: datetime
    updated_at: datetime
    state: str = "new"
    org_id: int | None = None
    debunk_id: int | None = None
    report_count: int = 0
    reporter_count: int = 0
    trust_sum: float | None = 0.0
    claimed_views: int = 0
    priority: float = 0.0
    priority_explain: dict[str, Any] = field(default_factory=dict)
    triage: dict[str, Any] = field(default_factory=dict)


AnyCase = Case | NewCase
_NEW_COLUMNS = tuple(f.name for f in fields(NewCase))
_LATE_COLUMNS = ("triage", "reporter_count", "trust_sum", "priority", "priority_explain")  # changed after insert


def _insert_new(session: Session, cases: list[NewCase]) -> None:
    if cases:
        session.execute(insert(Case.__table__), [{c: getattr(case, c) for c in _NEW_COLUMNS} for case in cases])


def _update_new(session: Session, cases: list[NewCase]) -> None:
    if cases:
        t = Case.__table__
        session.execute(update(t).where(t.c.id == bindparam("cid")).values({c: bindparam(c) for c in _LATE_COLUMNS}),
                        [{"cid": case.id, **{c: getattr(case, c) for c in _LATE_COLUMNS}} for case in cases])


def _new_case(session: Session, report: Report, now: datetime, campaigns: dict[str, Campaign | None],
              rules: list[RoutingRule], ids: IdBlock, deliveries: list[WebhookDelivery],
              events: audit.Batch) -> NewCase:
    """A new case for ``report``, routed, with its key from the transaction's block. Its webhook delivery is
    appended to ``deliveries`` for the caller to queue after one flush, and its audit event goes to ``events``;
    the caller inserts it (`_insert_new`)."""
    if report.category not in campaigns:
        campaigns[report.category] = active_campaign(session, report.category, now)
    camp = campaigns[report.category]
    case = NewCase(id=ids.next(), category=report.category, canonical_url=report.canonical_url,
                   platform=report.platform, campaign_id=camp.id if camp else None,
                   first_reported_at=report.created_at, last_reported_at=report.created_at,
                   due_at=report.created_at + CATEGORY_BY_CODE[report.category].sla, created_at=now, updated_at=now)
    r = route(session, category=case.category, platform=case.platform, campaign_id=case.campaign_id, rules=rules)
    if r is not None:
        case.org_id = r.org_id
        case.state = "routed"
    events.add(actor="system:pipeline", action="case.create", object_type="case", object_id=case.id,
               summary={"category": case.category, "routed_to": case.org_id, "why": r.reason if r else "no org",
                        "report": report.id})
    if r is not None and case.org_id is not None:
        d = emit(session, org_id=case.org_id, event="case.routed",
                 payload={"case": _webhook_case(case), "reason": r.reason}, defer=True)
        if d is not None:
            deliveries.append(d)
    return case


def _webhook_case(case: AnyCase) -> dict[str, Any]:
    return {"id": case.id, "category": case.category, "state": case.state, "url": case.canonical_url,
            "platform": case.platform, "reporter_count": case.reporter_count, "debunk_id": case.debunk_id,
            "due_at": case.due_at.isoformat() if case.due_at else None}


_Pending = analysis.Pending
# The analysis of the chunks the next round will most likely begin with, started while this round's last chunks
# are written (see `_look_ahead`): per database, when, and per chunk the items analysed and the pending result.
_ahead: dict[str, tuple[float, list[tuple[list[analysis.Item], _Pending]]]] = {}
AHEAD_FRESH = 10.0  # seconds: an older look-ahead is not used (a debunk published since would be missing)
_ahead_unused: set[str] = set()  # databases whose last look-ahead was not used


def _look_ahead(db: Database, stage: analysis.Stage, after: int, chunks: int) -> None:
    """Start analysing the next unprocessed reports after ``after``, the first ``chunks`` chunks of the round
    that follows in a backlog (jobs are claimed oldest first, in report order), one per helper. Without it the
    helpers idled at every round's end while the worker wrote the last chunks, completed the round's jobs and
    claimed the next ones. After a look-ahead that went unused (another worker took those reports, or their jobs
    are not due), the next round does not look ahead, so at most every other one is wasted."""
    if db.url in _ahead_unused:
        _ahead_unused.discard(db.url)
        return
    with db.read() as s:
        rows = s.execute(select(Report.id, Report.text, Report.description)
                         .where(Report.id > after, Report.processed.is_(False))
                         .order_by(Report.id).limit(ANALYSIS_CHUNK * chunks)).all()
    items = [(int(rid), text or "", desc or "") for rid, text, desc in rows]
    pre = preanalysis.running(db)
    if items and pre is not None and pre.holds(items[0][0]):
        return  # the next round begins with reports analysed ahead (`preanalysis`)
    parts = [items[k : k + ANALYSIS_CHUNK] for k in range(0, len(items), ANALYSIS_CHUNK)]
    if parts:
        _ahead[db.url] = (time.monotonic(), [(part, stage.submit(part)) for part in parts])


def read_ahead(db: Database) -> preanalysis.Preanalysis | None:
    """The analysis of unprocessed reports ahead of the writes on idle CPU (`preanalysis`): in a process whose
    analysis helpers are up (a worker), unless QINGLANG_READ_AHEAD is off."""
    from qinglang.settings import get_settings

    if analysis.running_helpers(db) is None or not get_settings().read_ahead:
        return preanalysis.running(db)
    return preanalysis.start(db, lambda: _intake_busy(db))


def _checkpoint(db: Database) -> Callable[[], int]:
    from qinglang.match.store_source import database_checkpoint

    return lambda: database_checkpoint(db)


def _in_flight(pending: deque[_Pending], busy: bool) -> int:
    """Chunks counted against the analysis depth. While intake is quiet, those still being analysed: chunks done
    (analysed ahead during the flood, or sooner than the writes before them) leave the helpers free for the next
    ones. While it is busy, every chunk not yet written: the throttled thread stays one chunk ahead, no more."""
    return len(pending) if busy else sum(not p.done() for p in pending)


def process_reports(db: Database, report_ids: list[int]) -> int:
    """Process these reports (skipping any already processed). Returns how many were processed."""
    pre = read_ahead(db)
    when, ahead = _ahead.pop(db.url, (0.0, []))  # used only if this round begins with exactly those reports
    if time.monotonic() - when >= AHEAD_FRESH:
        ahead = []
    with db.read() as s:
        reports = list(s.execute(select(Report).where(Report.id.in_(report_ids), Report.processed.is_(False))
                                 .order_by(Report.id)).scalars())
    if not reports:
        return 0
    with db.read() as s:
        blocklist = blocklist_entries(s)
    chunks = [reports[k:k + ANALYSIS_CHUNK] for k in range(0, len(reports), ANALYSIS_CHUNK)]
    items = [[(r.id, r.text or "", r.description or "") for r in chunk] for chunk in chunks]
    # The stages overlap: while the database work for one chunk runs, the next chunks are analysed (in a
    # helper process during a backlog, else a thread). Short write transactions also let intake commits
    # interleave with the pipeline instead of queueing behind it. While intake is busy (either backend),
    # analysis stays in this process's niced thread and helpers do not start: they would take CPU from requests.
    busy = _intake_busy(db)
    with analysis.Stage(db, len(reports), busy=busy) as stage:
        pending: deque[_Pending] = deque()
        submitted = 0
        for i in range(len(chunks)):
            if i:  # read afresh per chunk (the first chunk uses the reading that chose the stage)
                busy = _intake_busy(db)
            step = _write_step(db, busy)
            while submitted < len(chunks) and (not pending or _in_flight(pending, busy) < stage.depth(busy=busy)):
                held = pre.take(items[submitted], _checkpoint(db)) if pre is not None else {}
                if held:  # analysed ahead on idle CPU: only the rest, if any, is analysed now
                    pending.append(preanalysis.combine(
                        items[submitted], held, partial(stage.submit, busy=busy)))
                    ahead = []
                elif submitted < len(ahead) and ahead[submitted][0] == items[submitted]:
                    pending.append(ahead[submitted][1])
                else:
                    if submitted == 0 and ahead:
                        _ahead_unused.add(db.url)
                    pending.append(stage.submit(items[submitted], busy=busy))
                    ahead = []  # the round went another way: the rest of the look-ahead is not used either
                submitted += 1
                if submitted == len(chunks) and stage.uses_helpers(busy=busy):
                    _look_ahead(db, stage, reports[-1].id, stage.helper_count())
            results, signatures = pending.popleft()()
            if signatures is None:  # dedup signatures now, so the write transaction only looks them up
                dedup.warm([t for _, t, _ in items[i]])
            else:
                for (_, text, _), form in zip(items[i], signatures, strict=True):
                    if form is None:
                        dedup.warm([text])
                    else:
                        dedup.remember(text, form)
            work = [(r, m, t) for r, (m, t) in zip(chunks[i], results, strict=True)]
            k = 0
            while k < len(work):
                started = time.monotonic()
                _apply(db, work[k : k + step], blocklist)
                k += step
                if step < WRITE_CHUNK:
                    # Intake is busy: hold SQLite's one write lock a bounded share of the time, then look again, so
                    # the rest of a chunk begun during a flood is not written two reports a second after it ended.
                    _pause(db, min((time.monotonic() - started) * BUSY_PAUSE, BUSY_PAUSE_MAX))
                    if k < len(work):
                        step = _write_step(db)
    if pre is not None:
        pre.forget([r.id for r in reports])
    REPORTS_PROCESSED.inc(len(reports))
    return len(reports)


Analyzed = list[tuple[Report, tuple[int, float] | None, dict[str, Any] | None]]


def _apply(db: Database, work: Analyzed, blocklist: list[Any]) -> None:
    index = _dedup_index(db)
    now = datetime.now(UTC)
    ids = [r.id for r, _, _ in work]
    with index.lock, db.write() as s, s.no_autoflush:
        index.refresh(s)
        rules = list(s.execute(select(RoutingRule)).scalars())
        running = active_campaigns(s, now)
        campaigns: dict[str, Campaign | None] = {c: running.get(c) for c in CATEGORY_BY_CODE}
        # The reports as the round read them (every column this transaction reads is one intake wrote and nothing
        # changes before processing), less any another worker processed meanwhile: an id query, not the rows again.
        unprocessed = set(s.execute(select(Report.id).where(Report.id.in_(ids), Report.processed.is_(False)))
                          .scalars())
        rows = {r.id: r for r, _, _ in work if r.id in unprocessed}
        images_of: dict[int, list[ReportImage]] = {}
        for img in s.execute(select(ReportImage).where(ReportImage.report_id.in_(ids))).scalars():
            images_of.setdefault(img.report_id, []).append(img)
        touched: dict[int, AnyCase] = {}
        created: list[NewCase] = []
        links: list[tuple[AnyCase, Report, list[dict[str, Any]]]] = []
        recent = dedup.Recent()  # this chunk's assignments and cases, not yet flushed
        recent.prefetch_urls(s, {r.canonical_url for r in rows.values() if r.canonical_url})
        recent.prefetch_cases(s, index, rows.values())
        case_ids = IdBlock(s, Case, block=len(rows))
        deliveries: list[WebhookDelivery] = []
        events = audit.Batch(s)
        done: dict[bool, list[dict[str, Any]]] = {False: [], True: []}  # report updates, without / with a match
        for r, match, tri in work:
            if r.id not in rows:
                continue
            images = images_of.get(r.id, [])
            found = dedup.find_case(s, index, r, images, recent=recent)
            if found:
                case = recent.cases.get(found[0]) or s.get(Case, found[0])
                assert case is not None
                why = found[1]
            else:
                case = _new_case(s, r, now, campaigns, rules, case_ids, deliveries, events)
                created.append(case)
                why = "new case"
            recent.cases[case.id] = case
            update_row: dict[str, Any] = {"rid": r.id, "case_id": case.id}
            if match:
                update_row["debunk_id"], update_row["match_score"] = match
                if case.debunk_id is None:
                    case.debunk_id = match[0]
            done[bool(match)].append(update_row)
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
            index.add_text(r.text, case.id)
            recent.add_text(r.text, case.id)
            for img in images:
                if img.pdq:
                    index.pdq.append((img.pdq, case.id))
            index.note(r.id)
            events.add(actor="system:pipeline", action="report.process", object_type="report", object_id=r.id,
                       summary={"case": case.id, "why": why, "debunk": match[0] if match else r.debunk_id})
            touched[case.id] = case
        _insert_new(s, created)  # before anything that refers to the new cases is written
        s.flush()
        _mark_processed(s, done)
        arrivals = [(u["case_id"], rows[u["rid"]]) for u in (*done[False], *done[True])]
        joined = Counter(r.reporter_key for _, r in arrivals)
        events.write()
        queue_deliveries(s, deliveries)
        link_indicators(s, links, blocklist)
        trust = _join_reporters(s, touched, arrivals, joined, ids)
        for case in touched.values():
            refresh_priority(s, case, now=now, trust=trust[case.id], campaigns=campaigns)
        _update_new(s, created)
        s.flush()
        # Last, so that a reporter's counter row (one hot row for a prolific reporter) stays locked only for the
        # commit on PostgreSQL, not for the whole transaction.
        add_reports(s, joined.elements())


def _join_reporters(session: Session, touched: dict[int, AnyCase], arrivals: list[tuple[int, Report]],
                    joined: Counter[str], txn_ids: list[int]) -> dict[int, float]:
    """Count the reporters new to each touched case and add their trust to the case's running sum; each case's
    mean reporter trust. Work is per arriving report, not per report of the case: a viral case with thousands of
    reporters costs a pipeline transaction no more than a new one. A reporter's trust is taken when they first
    report on the case: their history on other cases, as `_trust_many` computes it, and the trusted-flagger mark
    their report was accepted with. Cases from before the sum
    was kept are computed in full once. ``arrivals``: (case id, report) attached in this transaction."""
    legacy = {cid for cid, c in touched.items() if c.trust_sum is None}
    if legacy:
        distinct: dict[int, int] = {}
        for cid, t in _trust_many(session, sorted(legacy), joined=joined, distinct=distinct).items():
            touched[cid].reporter_count = distinct.get(cid, 0)
            touched[cid].trust_sum = t * distinct.get(cid, 0)
    arrivals = [(cid, r) for cid, r in arrivals if cid not in legacy]
    seen: set[tuple[int, str]] = set()
    if arrivals:
        seen = {(int(cid), key) for cid, key in session.execute(
            select(Report.case_id, Report.reporter_key).distinct()
            .where(Report.case_id.in_({cid for cid, _ in arrivals}))
            .where(Report.reporter_key.in_({r.reporter_key for _, r in arrivals}))
            .where(Report.id.not_in(txn_ids)))}
    new: dict[tuple[int, str], bool] = {}  # reporter new to the case -> trusted flagger
    own: Counter[tuple[int, str]] = Counter()  # this transaction's reports per case and reporter
    for cid, r in arrivals:
        own[(cid, r.reporter_key)] += 1
        if (cid, r.reporter_key) not in seen:
            new[(cid, r.reporter_key)] = new.get((cid, r.reporter_key), False) or bool(r.trusted)
    totals = reporter_history(session, {k for _, k in new})
    for (cid, key), flagger in new.items():
        n, rejected = totals.get(key, (0, 0))  # counters from before this transaction: its reports are in joined
        case = touched[cid]
        case.reporter_count += 1
        case.trust_sum = (case.trust_sum or 0.0) + priority.reporter_trust(
            trusted_flagger=flagger, accepted=max(n + joined[key] - rejected - own[(cid, key)], 0), rejected=rejected)
    return {cid: round((c.trust_sum or 0.0) / c.reporter_count, 3) if c.reporter_count else 1.0
            for cid, c in touched.items()}


def _mark_processed(session: Session, done: dict[bool, list[dict[str, Any]]]) -> None:
    """Attach the reports to their cases (and matches), one executemany per shape (ORM objects cost more)."""
    t = Report.__table__
    for with_match, rows in done.items():
        if rows:
            values: dict[str, Any] = {"case_id": bindparam("case_id"), "processed": True}
            if with_match:
                values.update(debunk_id=bindparam("debunk_id"), match_score=bindparam("match_score"))
            session.execute(update(t).where(t.c.id == bindparam("rid")).values(**values), rows)


def _merge_triage(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The newest report's classifier results; indicators and hits accumulated over all the case's reports."""
    return {**old, **new, "indicators": analysis.union_indicators(old.get("indicators", []), new.get("indicators", []))}


def backlog_batch(db: Database) -> int:
    """Report jobs per worker round: a large batch while intake is quiet, so that the analysis helpers are not
    left idle between rounds (each round ends with writes they wait for; `benchmarks/bench_pipeline.py --processes 2
    --round N`: 248/s at 1,024 against 242/s at 256, within run-to-run noise); the default while reports pour in,
    so that a round in the slow busy mode stays well inside the jobs' stale-lease time. After a flood, the reports
    analysed ahead (`preanalysis`) come on top: the round then holds reports the helpers analyse while the
    worker writes the others, instead of rounds the helpers sit out."""
    if _intake_busy(db):
        return 0
    pre = preanalysis.running(db)
    return BACKLOG_BATCH + min(pre.held() if pre is not None else 0, HELD_BATCH_MAX)


@handler("process_report", batch=backlog_batch)
def process_report_job(db: Database, payloads: list[dict[str, Any]]) -> None:
    process_reports(db, [int(p["report_id"]) for p in payloads])
