"""The data model: typed SQLAlchemy 2 ORM classes. Migrations in `store/migrations` create these tables.

Never call `create_all` in production paths; `qinglang db upgrade` runs Alembic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    jurisdiction: Mapped[dict[str, Any]] = mapped_column(default=dict)
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    supervisor: Mapped[Organisation | None] = relationship(remote_side="Organisation.id")

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org: Mapped[Organisation | None] = relationship()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    trusted_flagger: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()


class WebSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()

    user: Mapped[User] = relationship()


class Campaign(Base):
    """A time-boxed special action that focuses the network on some categories."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[Any]] = mapped_column(default=list)
    boost: Mapped[float] = mapped_column(Float, default=1.5)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingRule(Base):
    """category × platform domain × region (× campaign) → responsible organisation. NULL matches anything."""

    __tablename__ = "routing_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str | None] = mapped_column(String(32))
    domain: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org: Mapped[Organisation] = relationship()


class Debunk(Base):
    __tablename__ = "debunks"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    lang: Mapped[str] = mapped_column(String(8))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The claim index checkpoint (`match.store_source`) whose change last touched this debunk: a process whose
    # index is at checkpoint v brings it up to date with the debunks above v, not by loading the whole index.
    index_version: Mapped[int | None] = mapped_column(Integer, index=True)

    org: Mapped[Organisation] = relationship()
    versions: Mapped[list[DebunkVersion]] = relationship(
        back_populates="debunk", order_by="DebunkVersion.version", cascade="all, delete-orphan")


class DebunkVersion(Base):
    """Every edit of a debunk is a new row; nothing is overwritten."""

    __tablename__ = "debunk_versions"
    __table_args__ = (UniqueConstraint("debunk_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    debunk_id: Mapped[int] = mapped_column(ForeignKey("debunks.id"))
    version: Mapped[int] = mapped_column(Integer)
    claim: Mapped[str] = mapped_column(Text)
    variants: Mapped[list[Any]] = mapped_column(default=list)
    verdict: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    explanation: Mapped[str] = mapped_column(Text)
    sources: Mapped[list[Any]] = mapped_column(default=list)
    topics: Mapped[list[Any]] = mapped_column(default=list)
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    debunk: Mapped[Debunk] = relationship(back_populates="versions")


class ContentItem(Base):
    """A piece of online content as reported: its canonical URL, text and media hashes."""

    __tablename__ = "content_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    canonical_url: Mapped[str | None] = mapped_column(String(2000), index=True)
    platform: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_org_state", "org_id", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="new", index=True)
    content_id: Mapped[int | None] = mapped_column(ForeignKey("content_items.id"))
    canonical_url: Mapped[str | None] = mapped_column(String(2000), index=True)
    platform: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(32))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column()
    debunk_id: Mapped[int | None] = mapped_column(ForeignKey("debunks.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    priority: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    priority_explain: Mapped[dict[str, Any]] = mapped_column(default=dict)
    triage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reporter_count: Mapped[int] = mapped_column(Integer, default=0)
    # Sum of the distinct reporters' trust, each taken when the reporter first reported on the case (the
    # priority's reporter trust is trust_sum / reporter_count); NULL for cases from before it was kept.
    trust_sum: Mapped[float | None] = mapped_column(Float, nullable=True)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    claimed_views: Mapped[int] = mapped_column(Integer, default=0)
    first_reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    escalated_at: Mapped[datetime | None] = mapped_column()
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    org: Mapped[Organisation | None] = relationship()
    debunk: Mapped[Debunk | None] = relationship()
    content: Mapped[ContentItem | None] = relationship()


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_case_reporter", "case_id", "reporter_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    receipt: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(String(2000))
    canonical_url: Mapped[str | None] = mapped_column(String(2000), index=True)
    platform: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    lang: Mapped[str] = mapped_column(String(8), default="und")
    contact_enc: Mapped[str | None] = mapped_column(Text)
    reporter_key: Mapped[str] = mapped_column(String(64), index=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_views: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    debunk_id: Mapped[int | None] = mapped_column(ForeignKey("debunks.id"))
    match_score: Mapped[float | None] = mapped_column(Float)
    rejected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    case: Mapped[Case | None] = relationship()
    images: Mapped[list[ReportImage]] = relationship(cascade="all, delete-orphan")


class ReporterStats(Base):
    """Per reporter key, how many of its reports joined a case and how many of those were rejected ("no
    violation"): the history reporter trust is computed from, kept as counters so that a prolific reporter (one
    platform's integration, one NAT address) costs one row lookup instead of a scan of its whole history."""

    __tablename__ = "reporter_stats"
    reporter_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    reports: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class ReportImage(Base):
    __tablename__ = "report_images"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(500))


class Decision(Base):
    """An organisation's action on a case, with its statement of reasons."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    ground: Mapped[str] = mapped_column(Text)
    facts: Mapped[str] = mapped_column(Text)
    automated_detection: Mapped[bool] = mapped_column(Boolean, default=False)
    automated_decision: Mapped[bool] = mapped_column(Boolean, default=False)
    refer_to_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    debunk_id: Mapped[int | None] = mapped_column(ForeignKey("debunks.id"))
    appeal_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship()
    org: Mapped[Organisation | None] = relationship(foreign_keys=[org_id])
    actor: Mapped[User | None] = relationship()


class Appeal(Base):
    __tablename__ = "appeals"
    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    statement: Mapped[str] = mapped_column(Text)
    contact_enc: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()

    decision: Mapped[Decision] = relationship()


class Indicator(Base):
    """An entity seen in reports (phone, domain, account…) that links cases into networks."""

    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(500))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)


class CaseIndicator(Base):
    __tablename__ = "case_indicators"
    __table_args__ = (UniqueConstraint("case_id", "indicator_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))


class BlocklistEntry(Base):
    __tablename__ = "blocklist_entries"
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HashBank(Base):
    __tablename__ = "hash_banks"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    action_policy: Mapped[str] = mapped_column(String(16), default="review")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HashBankEntry(Base):
    __tablename__ = "hash_bank_entries"
    __table_args__ = (UniqueConstraint("bank_id", "signal_type", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id"), index=True)
    signal_type: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(64))
    labels: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A durable background job: queued in the same transaction as the data it concerns."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    locked_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(Base):
    """Append-only, SHA-256 chained: hash = sha256(prev_hash || canonical JSON of the row)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Meta(Base):
    """Small key/value state: index checkpoints, demo-load markers."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


__all__ = [name for name in dir() if name[:1].isupper()]
