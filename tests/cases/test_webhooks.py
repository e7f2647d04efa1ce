"""Webhooks: signed bodies a real local receiver verifies, retries with backoff recorded per attempt, the log API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update

from qinglang import accounts
from qinglang.cases import webhooks
from qinglang.jobs import worker
from qinglang.settings import Settings, get_settings
from qinglang.store.db import Database
from qinglang.store.models import Job, WebhookDelivery

HOOK_SECRET = "whsec-test-0123456789"


@dataclass
class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that checks the signature and answers with scripted status codes."""

    codes: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec.received.append({
                "body": body, "valid": webhooks.verify_signature(HOOK_SECRET, body,
                                                                  self.headers.get("X-Qinglang-Signature", "")),
                "event": self.headers.get("X-Qinglang-Event"), "delivery": self.headers.get("X-Qinglang-Delivery")})
            code = rec.codes.pop(0) if rec.codes else 200
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok" if code < 300 else b"boom")

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield rec
    server.shutdown()
    server.server_close()
    t.join(5)


@pytest.fixture
def deployment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Make get_settings() (which the webhook job uses) agree with the test settings' secret."""
    monkeypatch.setenv("QINGLANG_SECRET_KEY", settings.secret())
    monkeypatch.setenv("QINGLANG_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def _org(db: Database, settings: Settings, key: str, url: str | None, secret: str | None = HOOK_SECRET) -> int:
    with db.write() as s:
        return accounts.create_org(s, actor="test", key=key, kind="platform", name_zh=key, name_en=key,
                                   webhook_url=url, webhook_secret=secret, secret=settings.secret()).id


def _emit(db: Database, org_id: int, event: str = "case.routed") -> int | None:
    with db.write() as s:
        d = webhooks.emit(s, org_id=org_id, event=event, payload={"case": {"id": 7, "category": "fraud"}})
        return d.id if d else None


def _row(db: Database, delivery_id: int) -> WebhookDelivery:
    with db.read() as s:
        d = s.get(WebhookDelivery, delivery_id)
        assert d is not None
        s.expunge(d)
        return d


def _queued_jobs(db: Database) -> list[Job]:
    with db.read() as s:
        jobs = list(s.execute(select(Job).where(Job.kind == "webhook_deliver", Job.status == "queued")).scalars())
        s.expunge_all()
        return jobs


def test_signature_round_trip_and_rejections() -> None:
    body = json.dumps({"a": "清朗"}).encode()
    header = webhooks.sign("k1", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert webhooks.verify_signature("k1", body, header)
    assert not webhooks.verify_signature("k2", body, header)
    assert not webhooks.verify_signature("k1", body + b" ", header)
    assert not webhooks.verify_signature("k1", body, header.replace("sha256=", "sha1="))
    assert not webhooks.verify_signature("k1", body, "")


def test_no_webhook_url_is_a_no_op(db: Database, deployment: Settings) -> None:
    org = _org(db, deployment, "nohook", None, None)
    assert _emit(db, org) is None
    assert _queued_jobs(db) == []


def test_delivery_signed_and_verified_by_a_real_receiver(db: Database, deployment: Settings,
                                                         receiver: Receiver) -> None:
    org = _org(db, deployment, "plat", receiver.url)
    delivery_id = _emit(db, org, "case.decided")
    assert delivery_id is not None and len(_queued_jobs(db)) == 1
    worker.drain(db)
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got["valid"] is True
    assert got["event"] == "case.decided"
    body = json.loads(got["body"])
    assert set(body) == {"id", "event", "created_at", "data"}
    assert body["data"] == {"case": {"id": 7, "category": "fraud"}} and body["id"] == got["delivery"]
    row = _row(db, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert row.delivered_at is not None and row.last_error is None
    assert _queued_jobs(db) == []


def test_500_then_200_records_the_retry(db: Database, deployment: Settings, receiver: Receiver) -> None:
    receiver.codes = [500]
    org = _org(db, deployment, "flaky", receiver.url)
    delivery_id = _emit(db, org)
    assert delivery_id is not None
    before = datetime.now(UTC)
    worker.drain(db)  # the retry is scheduled 10 s ahead, so drain stops after the first attempt
    row = _row(db, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert row.last_error and "500" in row.last_error
    assert row.next_attempt_at is not None
    assert timedelta(seconds=9) < row.next_attempt_at - before < timedelta(seconds=12)
    retry = _queued_jobs(db)
    assert len(retry) == 1 and retry[0].payload == {"delivery_id": delivery_id}
    with db.write() as s:  # let the backoff elapse
        s.execute(update(Job).where(Job.id == retry[0].id).values(run_after=datetime.now(UTC)))
    worker.drain(db)
    row = _row(db, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
    assert [r["valid"] for r in receiver.received] == [True, True]
    assert receiver.received[0]["delivery"] == receiver.received[1]["delivery"]  # same id: receivers dedupe


def test_gives_up_after_six_attempts_with_growing_backoff(db: Database, deployment: Settings,
                                                          receiver: Receiver) -> None:
    receiver.codes = [503] * 10
    org = _org(db, deployment, "down", receiver.url)
    delivery_id = _emit(db, org)
    assert delivery_id is not None
    gaps = []
    for _ in range(webhooks.MAX_ATTEMPTS):
        now = datetime.now(UTC)
        webhooks.deliver(db, [delivery_id], now=now)
        row = _row(db, delivery_id)
        if row.next_attempt_at:
            gaps.append(row.next_attempt_at - now)
    row = _row(db, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 6, 503)
    assert row.next_attempt_at is None
    assert gaps == list(webhooks.BACKOFF)
    assert len(receiver.received) == 6
    webhooks.deliver(db, [delivery_id])  # a failed delivery is never sent again
    assert len(receiver.received) == 6


def test_unreachable_endpoint_records_the_error(db: Database, deployment: Settings) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    org = _org(db, deployment, "gone", f"http://127.0.0.1:{port}/hook")
    delivery_id = _emit(db, org)
    assert delivery_id is not None
    webhooks.deliver(db, [delivery_id])
    row = _row(db, delivery_id)
    assert row.status == "pending" and row.attempts == 1 and row.last_status_code is None
    assert row.last_error and "ConnectError" in row.last_error


def test_secret_from_another_deployment_fails_the_delivery_not_the_caller(
        db: Database, deployment: Settings, receiver: Receiver) -> None:
    with db.write() as s:
        org = accounts.create_org(s, actor="test", key="moved", kind="platform", name_zh="m", name_en="m",
                                  webhook_url=receiver.url, webhook_secret=HOOK_SECRET,
                                  secret="a-different-deployment-secret-" + "y" * 20).id
    delivery_id = _emit(db, org)
    assert delivery_id is not None
    row = _row(db, delivery_id)
    assert row.status == "failed" and row.last_error and "decrypt" in row.last_error
    assert _queued_jobs(db) == []


def test_delivery_log_is_scoped_to_the_org(db: Database, deployment: Settings, receiver: Receiver,
                                           staff: Any, client: Any) -> None:
    a = _org(db, deployment, "org-a", receiver.url)
    b = _org(db, deployment, "org-b", receiver.url)
    _emit(db, a)
    _emit(db, b, "case.appealed")
    agent = staff.user("agent-a", "org_agent", org="org-a")
    admin = staff.user("root", "admin")
    reviewer = staff.user("rev", "reviewer")
    mine = client.get("/v1/webhooks/deliveries", headers={"Authorization": f"Bearer {agent}"})
    assert mine.status_code == 200
    assert [d["org_id"] for d in mine.json()["items"]] == [a]
    assert mine.json()["items"][0]["status"] == "pending" and "signature" not in mine.json()["items"][0]
    other = client.get(f"/v1/webhooks/deliveries?org_id={b}", headers={"Authorization": f"Bearer {agent}"})
    assert other.status_code == 403
    everything = client.get("/v1/webhooks/deliveries", headers={"Authorization": f"Bearer {admin}"})
    assert sorted(d["org_id"] for d in everything.json()["items"]) == sorted([a, b])
    assert client.get("/v1/webhooks/deliveries", headers={"Authorization": f"Bearer {reviewer}"}).status_code == 403
    assert client.get("/v1/webhooks/deliveries").status_code == 401
