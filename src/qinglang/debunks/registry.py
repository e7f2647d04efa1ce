"""Create, edit, review, publish, correct and withdraw debunks; every edit is a new version.

Workflow: draft → in_review → published → corrected | withdrawn. The review is done by a second person:
never the author, and either a reviewer or an expert of another organisation. Every transition is audited
and, when it changes what the public sees, tells the claim index to update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session, selectinload

from qinglang import audit
from qinglang.auth.policy import Principal
from qinglang.errors import Conflict, Forbidden, Invalid, NotFound
from qinglang.store.models import Debunk, DebunkVersion, Organisation
from qinglang.taxonomy import PUBLIC_DEBUNK_STATES, TOPICS, VERDICT_CODES, check_code

MAX_CLAIM = 2000
MAX_TEXT = 20000


@dataclass
class Source:
    url: str
    title: str = ""
    publisher: str = ""


@dataclass
class DebunkInput:
    claim: str
    verdict: str
    summary: str
    explanation: str
    lang: str = "zh"
    variants: list[str] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if not self.claim.strip():
            raise Invalid("claim must not be empty", field="claim")
        if len(self.claim) > MAX_CLAIM:
            raise Invalid(f"claim is longer than {MAX_CLAIM} characters", field="claim")
        check_code(self.verdict, VERDICT_CODES, field="verdict")
        if not self.summary.strip():
            raise Invalid("summary must not be empty", field="summary")
        if len(self.explanation) > MAX_TEXT:
            raise Invalid(f"explanation is longer than {MAX_TEXT} characters", field="explanation")
        if self.lang not in ("zh", "en"):
            raise Invalid("lang must be 'zh' or 'en'", field="lang")
        if len(self.variants) > 50 or any(len(v) > MAX_CLAIM for v in self.variants):
            raise Invalid("at most 50 variants, each up to 2000 characters", field="variants")
        for i, src in enumerate(self.sources):
            url = str(src.get("url", ""))
            if not url.startswith(("https://", "http://")):
                raise Invalid("evidence source url must be http(s)", field=f"sources.{i}.url")
        for t in self.topics:
            check_code(t, TOPICS, field="topics")


def _version_from(data: DebunkInput, *, version: int, editor_id: int | None, note: str) -> DebunkVersion:
    return DebunkVersion(
        version=version, claim=data.claim.strip(), variants=[v.strip() for v in data.variants if v.strip()],
        verdict=data.verdict, summary=data.summary.strip(), explanation=data.explanation.strip(),
        sources=[{"url": s.get("url", ""), "title": s.get("title", ""), "publisher": s.get("publisher", "")}
                 for s in data.sources],
        topics=list(data.topics), editor_id=editor_id, note=note)


def get(session: Session, debunk_id: int) -> Debunk:
    d = session.execute(select(Debunk).options(selectinload(Debunk.versions), selectinload(Debunk.org))
                        .where(Debunk.id == debunk_id)).scalar_one_or_none()
    if d is None:
        raise NotFound(f"debunk {debunk_id} not found")
    return d


def current(d: Debunk) -> DebunkVersion:
    for v in d.versions:
        if v.version == d.current_version:
            return v
    raise NotFound(f"debunk {d.id} has no version {d.current_version}")


def create(session: Session, actor: Principal | None, data: DebunkInput, *, org_id: int, key: str | None = None,
           status: str = "draft", published_at: datetime | None = None, actor_label: str | None = None) -> Debunk:
    data.validate()
    if session.get(Organisation, org_id) is None:
        raise Invalid(f"organisation {org_id} does not exist", field="org_id")
    now = datetime.now(UTC)
    d = Debunk(key=key or f"d-{int(now.timestamp() * 1000)}", status=status, lang=data.lang, org_id=org_id,
               author_id=actor.user_id if actor else None, current_version=1,
               published_at=published_at if status in PUBLIC_DEBUNK_STATES else None, updated_at=now)
    if status in PUBLIC_DEBUNK_STATES and d.published_at is None:
        d.published_at = now
    d.versions.append(_version_from(data, version=1, editor_id=d.author_id, note="created"))
    if session.execute(select(Debunk.id).where(Debunk.key == d.key)).first():
        raise Conflict(f"a debunk with key {d.key!r} exists", field="key")
    session.add(d)
    session.flush()
    if key is None:
        d.key = f"d{d.id}"
    audit.record(session, actor=actor_label or (actor.label if actor else "system"), action="debunk.create",
                 object_type="debunk", object_id=d.id, summary={"status": status, "claim": data.claim[:200]})
    if status in PUBLIC_DEBUNK_STATES:
        _index_changed(session, d)
    return d


def _require_editor(actor: Principal, d: Debunk) -> None:
    if actor.role != "admin" and actor.role != "reviewer" and actor.org_id != d.org_id:
        raise Forbidden("only the publishing organisation's experts or a reviewer may edit this debunk")


def edit(session: Session, actor: Principal, debunk_id: int, data: DebunkInput, *, note: str = "") -> Debunk:
    """A new version of a draft or in-review debunk (published ones are changed with `correct`)."""
    data.validate()
    d = get(session, debunk_id)
    _require_editor(actor, d)
    if d.status not in ("draft", "in_review"):
        raise Conflict(f"debunk is {d.status}; use a correction to change a published debunk", field="status")
    _add_version(session, actor, d, data, note or "edited", "debunk.edit")
    return d


def _add_version(session: Session, actor: Principal, d: Debunk, data: DebunkInput, note: str, action: str) -> None:
    d.current_version += 1
    d.lang = data.lang
    d.versions.append(_version_from(data, version=d.current_version, editor_id=actor.user_id, note=note))
    d.updated_at = datetime.now(UTC)
    session.flush()
    audit.record(session, actor=actor.label, action=action, object_type="debunk", object_id=d.id,
                 summary={"version": d.current_version, "note": note[:500]})


def submit(session: Session, actor: Principal, debunk_id: int) -> Debunk:
    d = get(session, debunk_id)
    _require_editor(actor, d)
    return _transition(session, actor, d, {"draft"}, "in_review", "debunk.submit")


def review(session: Session, actor: Principal, debunk_id: int, *, approve: bool, note: str = "") -> Debunk:
    """The second person's review: approve → published, reject → back to draft."""
    d = get(session, debunk_id)
    if d.status != "in_review":
        raise Conflict(f"debunk is {d.status}, not in review", field="status")
    editors = {v.editor_id for v in d.versions} | {d.author_id}
    if actor.user_id in editors:
        raise Forbidden("a debunk is reviewed by a second person, not by its author or an editor")
    if actor.role == "expert" and actor.org_id == d.org_id:
        raise Forbidden("an expert reviewer must come from another organisation (or ask a reviewer)")
    if not approve and not note.strip():
        raise Invalid("a rejection needs a note for the author", field="note")
    d.reviewer_id = actor.user_id
    if approve:
        d.published_at = datetime.now(UTC)
    return _transition(session, actor, d, {"in_review"}, "published" if approve else "draft",
                       "debunk.approve" if approve else "debunk.reject", note=note)


def correct(session: Session, actor: Principal, debunk_id: int, data: DebunkInput, *, note: str) -> Debunk:
    """Change a published debunk: a new version, marked corrected, with a public note."""
    data.validate()
    if not note.strip():
        raise Invalid("a correction needs a public note saying what changed", field="note")
    d = get(session, debunk_id)
    _require_editor(actor, d)
    if d.status not in PUBLIC_DEBUNK_STATES:
        raise Conflict(f"only published debunks are corrected; this one is {d.status}", field="status")
    _add_version(session, actor, d, data, note, "debunk.correct")
    d.status = "corrected"
    _index_changed(session, d)
    return d


def withdraw(session: Session, actor: Principal, debunk_id: int, *, note: str) -> Debunk:
    if not note.strip():
        raise Invalid("withdrawing needs a reason", field="note")
    d = get(session, debunk_id)
    _require_editor(actor, d)
    return _transition(session, actor, d, {"published", "corrected", "draft", "in_review"}, "withdrawn",
                       "debunk.withdraw", note=note)


def _transition(session: Session, actor: Principal, d: Debunk, allowed: set[str], to: str, action: str,
                note: str = "") -> Debunk:
    if d.status not in allowed:
        raise Conflict(f"cannot go from {d.status} to {to}", field="status")
    was_public = d.status in PUBLIC_DEBUNK_STATES
    before = d.status
    d.status = to
    d.updated_at = datetime.now(UTC)
    session.flush()
    audit.record(session, actor=actor.label, action=action, object_type="debunk", object_id=d.id,
                 summary={"from": before, "to": to, "note": note[:500]})
    if was_public or to in PUBLIC_DEBUNK_STATES:
        _index_changed(session, d)
    return d


def _index_changed(session: Session, d: Debunk) -> None:
    """Tell the claim index (in this and every other process) that this debunk changed."""
    from qinglang.jobs.queue import enqueue

    enqueue(session, "index_debunk", {"debunk_id": d.id})


@dataclass
class SearchFilters:
    q: str = ""
    verdict: str | None = None
    topic: str | None = None
    lang: str | None = None
    org: str | None = None
    since: date | None = None
    until: date | None = None
    statuses: tuple[str, ...] = ("published", "corrected")
    limit: int = 20
    offset: int = 0


def search_query(f: SearchFilters) -> Select[Any]:
    q = (select(Debunk).join(DebunkVersion, and_(DebunkVersion.debunk_id == Debunk.id,
                                                 DebunkVersion.version == Debunk.current_version))
         .join(Organisation, Organisation.id == Debunk.org_id)
         .where(Debunk.status.in_(f.statuses)))
    if f.verdict:
        q = q.where(DebunkVersion.verdict == check_code(f.verdict, VERDICT_CODES, field="verdict"))
    if f.lang:
        q = q.where(Debunk.lang == f.lang)
    if f.org:
        q = q.where(Organisation.key == f.org)
    if f.topic:
        # JSON array membership without backend-specific operators: the topic appears quoted in the array text.
        topic = check_code(f.topic, TOPICS, field="topic")
        q = q.where(cast(DebunkVersion.topics, Text).like(f'%"{topic}"%'))
    if f.since:
        q = q.where(Debunk.published_at >= datetime.combine(f.since, datetime.min.time(), UTC))
    if f.until:
        q = q.where(Debunk.published_at < datetime.combine(f.until, datetime.max.time(), UTC))
    if f.q.strip():
        like = f"%{f.q.strip()}%"
        q = q.where(or_(DebunkVersion.claim.ilike(like), DebunkVersion.summary.ilike(like),
                        cast(DebunkVersion.variants, Text).ilike(like)))
    return q.order_by(Debunk.published_at.desc().nullslast(), Debunk.id.desc())


def search(session: Session, f: SearchFilters) -> tuple[list[Debunk], int]:
    base = search_query(f)
    total = session.execute(select(func.count()).select_from(base.order_by(None).subquery())).scalar_one()
    rows = session.execute(base.options(selectinload(Debunk.versions), selectinload(Debunk.org))
                           .limit(f.limit).offset(f.offset)).scalars().all()
    return list(rows), int(total)


def public_dict(d: Debunk, lang: str = "en") -> dict[str, Any]:
    v = current(d)
    return {
        "id": d.id, "key": d.key, "status": d.status, "lang": d.lang, "claim": v.claim,
        "variants": v.variants, "verdict": v.verdict, "summary": v.summary, "explanation": v.explanation,
        "sources": v.sources, "topics": v.topics, "version": d.current_version,
        "organisation": {"key": d.org.key, "name": d.org.name(lang)} if d.org else None,
        "published_at": d.published_at.isoformat() if d.published_at else None,
        "updated_at": d.updated_at.isoformat(),
        "corrections": [{"version": x.version, "note": x.note, "at": x.created_at.isoformat()}
                        for x in d.versions if x.version > 1],
    }
