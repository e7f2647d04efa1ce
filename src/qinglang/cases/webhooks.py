"""Signed webhooks to organisations: one durable delivery row per event, sent by a background job with retries.

`emit` runs inside the caller's transaction, so a delivery exists exactly when the case change it announces
was committed. The body is canonical JSON signed with HMAC-SHA256 under the organisation's webhook secret
(`X-Qinglang-Signature: sha256=<hex>`); receivers check it with `verify_signature`. Delivery is at least once:
receivers deduplicate on `X-Qinglang-Delivery`. Never send a request from inside a database transaction,
never follow redirects, and never log a webhook secret.
"""

from __future__ import annotations

import hmac
import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from qinglang.auth import secrets as sec
from qinglang.jobs.queue import enqueue
from qinglang.jobs.worker import handler
from qinglang.settings import get_settings
from qinglang.store.db import Database
from qinglang.store.models import Organisation, WebhookDelivery

log = structlog.get_logger("qinglang.webhooks")

EVENTS: frozenset[str] = frozenset({"case.routed", "case.escalated", "case.appealed", "case.decided"})
JOB_KIND = "webhook_deliver"
TIMEOUT_SECONDS = 5.0
# Wait before attempt 2, 3, … 6; after the 6th failed attempt the delivery is `failed`.
BACKOFF: tuple[timedelta, ...] = (timedelta(seconds=10), timedelta(seconds=30), timedelta(minutes=2),
                                  timedelta(minutes=10), timedelta(hours=1))
MAX_ATTEMPTS = len(BACKOFF) + 1
SIGNATURE_HEADER = "X-Qinglang-Signature"
USER_AGENT = "qinglang-webhooks/1"


_ORGS = "qinglang.webhooks.orgs"


def canonical_json(obj: Any) -> str:
    """The exact bytes that are signed: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def sign(secret: str, body: bytes) -> str:
    """The signature header value for a body."""
    return "sha256=" + sec.hmac_sha256(secret, body)


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """For receivers: does `header` (`sha256=<hex>`) sign `body` under `secret`? Constant-time."""
    scheme, _, given = (header or "").strip().partition("=")
    if scheme != "sha256" or not given:
        return False
    return hmac.compare_digest(sec.hmac_sha256(secret, body).encode(), given.strip().lower().encode())


def _org_secret(org: Organisation) -> str | None:
    if not org.webhook_secret_enc:
        return None
    return sec.decrypt(get_settings().secret(), org.webhook_secret_enc)


def emit(session: Session, *, org_id: int, event: str, payload: dict[str, Any],
         defer: bool = False) -> WebhookDelivery | None:
    """Record a signed delivery of `event` to the organisation's webhook and queue it; None when it has none.

    ``defer``: leave the delivery unflushed and unqueued; the caller passes it to `queue_deliveries` after one
    flush for its whole batch."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    orgs = session.info.setdefault(_ORGS, {})  # a batch emits many events to few organisations
    org = orgs.get(org_id)
    if org is None:
        org = orgs[org_id] = session.get(Organisation, org_id)
    if org is None or not org.webhook_url:
        return None
    delivery_id = "whd_" + secrets.token_hex(12)
    now = datetime.now(UTC)
    body = canonical_json({"id": delivery_id, "event": event,
                           "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "data": payload})
    d = WebhookDelivery(org_id=org.id, event=event, url=org.webhook_url, body=body, signature="",
                        status="pending", attempts=0, next_attempt_at=now, created_at=now)
    try:
        secret = _org_secret(org)  # no secret configured: the body goes out unsigned
        if secret:
            d.signature = sign(secret, body.encode())
    except ValueError:
        # The stored secret does not decrypt under this deployment's key. Never send unsigned what the
        # receiver expects signed, and never fail the case change that emitted the event: record why.
        d.status, d.next_attempt_at = "failed", None
        d.last_error = "webhook secret does not decrypt with this deployment's secret key"
    session.add(d)
    if not defer:
        queue_deliveries(session, [d])
    return d


def queue_deliveries(session: Session, deliveries: list[WebhookDelivery]) -> None:
    """Queue the send job of each pending delivery (flushing once, so the deliveries have their ids)."""
    if not deliveries:
        return
    session.flush()
    for d in deliveries:
        if d.status == "pending":
            enqueue(session, JOB_KIND, {"delivery_id": d.id})


@dataclass(frozen=True)
class _Outcome:
    delivery_id: int
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class _Request:
    delivery_id: int
    url: str
    body: bytes
    headers: dict[str, str]


def _request(d: WebhookDelivery) -> _Request:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
               "X-Qinglang-Event": d.event, "X-Qinglang-Delivery": _delivery_key(d)}
    if d.signature:
        headers[SIGNATURE_HEADER] = d.signature
    return _Request(d.id, d.url, d.body.encode(), headers)


def _post(client: httpx.Client, req: _Request) -> _Outcome:
    try:
        resp = client.post(req.url, content=req.body, headers=req.headers)
    except httpx.HTTPError as exc:
        return _Outcome(req.delivery_id, None, f"{type(exc).__name__}: {exc}"[:500])
    err = None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}: {resp.text[:200]}"
    return _Outcome(req.delivery_id, resp.status_code, err)


def _delivery_key(delivery: WebhookDelivery) -> str:
    try:
        return str(json.loads(delivery.body)["id"])
    except (ValueError, KeyError, TypeError):
        return str(delivery.id)


def deliver(db: Database, delivery_ids: list[int], *, now: datetime | None = None) -> list[WebhookDelivery]:
    """Attempt these pending deliveries once (concurrently, outside any transaction) and record each attempt.

    A failure schedules the next attempt as a new job after the backoff; the sixth failure marks it `failed`.
    """
    with db.read() as s:
        due = [_request(d) for d in s.execute(select(WebhookDelivery).where(
            WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.status == "pending")).scalars()]
    if not due:
        return []
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client, \
            ThreadPoolExecutor(max_workers=min(8, len(due))) as pool:
        outcomes = list(pool.map(lambda d: _post(client, d), due))
    done: list[WebhookDelivery] = []
    with db.write() as s:
        at = now or datetime.now(UTC)
        for out in outcomes:
            d = s.get(WebhookDelivery, out.delivery_id)
            if d is None or d.status != "pending":
                continue
            d.attempts += 1
            d.last_status_code = out.status_code
            d.last_error = out.error
            if out.ok:
                d.status, d.delivered_at, d.next_attempt_at = "delivered", at, None
            elif d.attempts >= MAX_ATTEMPTS:
                d.status, d.next_attempt_at = "failed", None
            else:
                d.next_attempt_at = at + BACKOFF[d.attempts - 1]
                enqueue(s, JOB_KIND, {"delivery_id": d.id}, run_after=d.next_attempt_at)
            log.info("webhook_attempt", delivery=d.id, org=d.org_id, webhook_event=d.event, attempt=d.attempts,
                     status_code=out.status_code, result=d.status)
            done.append(d)
    return done


@handler(JOB_KIND)
def _deliver_job(db: Database, payloads: list[dict[str, Any]]) -> None:
    deliver(db, [int(p["delivery_id"]) for p in payloads if "delivery_id" in p])


def delivery_dict(d: WebhookDelivery) -> dict[str, Any]:
    """The public view of a delivery (the body, never the secret)."""
    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {"id": d.id, "delivery": _delivery_key(d), "org_id": d.org_id, "event": d.event, "url": d.url,
            "status": d.status, "attempts": d.attempts, "last_status_code": d.last_status_code,
            "last_error": d.last_error, "next_attempt_at": iso(d.next_attempt_at), "created_at": iso(d.created_at),
            "delivered_at": iso(d.delivered_at), "body": json.loads(d.body)}


def list_deliveries(session: Session, *, org_id: int | None = None, status: str | None = None,
                    event: str | None = None, limit: int = 50, offset: int = 0) -> list[WebhookDelivery]:
    """Newest first; `org_id=None` means every organisation (the caller decides who may ask for that)."""
    q = select(WebhookDelivery)
    if org_id is not None:
        q = q.where(WebhookDelivery.org_id == org_id)
    if status:
        q = q.where(WebhookDelivery.status == status)
    if event:
        q = q.where(WebhookDelivery.event == event)
    q = q.order_by(WebhookDelivery.id.desc()).limit(max(1, min(limit, 500))).offset(max(0, offset))
    return list(session.execute(q).scalars())
