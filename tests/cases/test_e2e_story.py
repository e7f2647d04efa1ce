"""The whole linkage story against a real server process and a real database:
report → one case → debunk shown → routed to the platform → its agent acts with reasons → reporters see the
outcome → the owner appeals → a different reviewer decides → webhooks verify; another platform gets 403."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from qinglang import accounts
from qinglang.auth.policy import Principal
from qinglang.cases.routing import add_rule
from qinglang.debunks import registry
from qinglang.store.db import Database
from qinglang.store.migrate import upgrade

SECRET = "hook-secret-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [h.get("x-qinglang-event", "") for h, _ in self.received]


def wait_for(fn: Any, timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    db = Database(url)
    hook = Receiver()
    secret_key = "e2e-secret-" + "k" * 40
    tokens: dict[str, str] = {}
    with db.write() as s:
        accounts.create_org(s, actor="t", key="cac", kind="regulator", name_zh="网信办", name_en="Regulator")
        accounts.create_org(s, actor="t", key="huabo", kind="platform", name_zh="话博", name_en="Huabo",
                            jurisdiction={"domains": ["huabo.example"]}, supervisor="cac", webhook_url=hook.url,
                            webhook_secret=SECRET, secret=secret_key)
        accounts.create_org(s, actor="t", key="other", kind="platform", name_zh="别家", name_en="Other",
                            jurisdiction={"domains": ["other.example"]}, supervisor="cac")
        accounts.create_org(s, actor="t", key="fc", kind="fact_checker", name_zh="核查中心", name_en="Fact check")
        add_rule(s, actor="t", org="huabo", domain="huabo.example", priority=10)
        add_rule(s, actor="t", org="other", domain="other.example", priority=10)
        for name, role, org in (("agent-huabo", "org_agent", "huabo"), ("agent-other", "org_agent", "other"),
                                ("reviewer1", "reviewer", "cac"), ("expert", "expert", "fc")):
            accounts.create_user(s, actor="t", username=name, role=role, org=org, password=None)
            tokens[name] = accounts.create_token(s, actor="t", username=name)[1]
        expert = accounts.user_by_name(s, "expert")
        d = registry.create(s, Principal.of(expert, via="cli"), registry.DebunkInput(
            claim="Drinking hot vinegar or breathing vinegar steam kills the coronavirus",
            variants=["熏醋、喝醋可以杀死新冠病毒"], verdict="false",
            summary="Vinegar does not kill the coronavirus in the body", explanation="No evidence.", lang="en",
            topics=["health"]), org_id=accounts.org_by_key(s, "fc").id, status="published")
        debunk_id = d.id
    port = free_port()
    env = dict(os.environ, QINGLANG_DATABASE_URL=url, QINGLANG_DATA_DIR=str(tmp_path),
               QINGLANG_SECRET_KEY=secret_key, QINGLANG_RATE_LIMIT="0")
    proc = subprocess.Popen([sys.executable, "-m", "qinglang.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 60, "server start")
        yield {"base": base, "tokens": tokens, "hook": hook, "debunk_id": debunk_id, "db": db}
    finally:
        proc.terminate()
        proc.wait(10)
        hook.server.shutdown()
        db.dispose()


def test_report_to_decision_to_appeal(world: dict[str, Any]) -> None:
    base, tokens, hook = world["base"], world["tokens"], world["hook"]
    h = {name: {"Authorization": f"Bearer {t}"} for name, t in tokens.items()}
    c = httpx.Client(base_url=base, timeout=30)

    # Two people report the same rumor URL (different share links), each with different text.
    r1 = c.post("/v1/reports", json={"category": "rumor",
                                      "url": "https://www.huabo.example/p/9001?utm_source=wechat&spm=1.2",
                                      "text": "Breathing vinegar steam kills the coronavirus, tell your family!",
                                      "contact": "alice@example.org"})
    r2 = c.post("/v1/reports", json={"category": "rumor", "url": "https://huabo.example/p/9001",
                                      "text": "熏醋、喝醋能杀死新冠病毒，转给家人", "contact": "+8613800000000"})
    assert r1.status_code == 201 and r2.status_code == 201, (r1.text, r2.text)
    rec1, rec2 = r1.json()["receipt"], r2.json()["receipt"]
    assert len(rec1) >= 12 and rec1 != rec2

    def status(rec: str) -> dict[str, Any]:
        return c.get(f"/v1/reports/{rec}").json()

    s1 = wait_for(lambda: (st := status(rec1))["case"] and st["debunk"] and st, what="report 1 processed")
    s2 = wait_for(lambda: (st := status(rec2))["case"] and st["debunk"] and st, what="report 2 processed")
    case_id = s1["case"]["id"]
    assert s2["case"]["id"] == case_id
    assert s1["debunk"]["id"] == world["debunk_id"] == s2["debunk"]["id"]
    assert "alice" not in json.dumps(s2) and "13800000000" not in json.dumps(s1)

    case = c.get(f"/v1/cases/{case_id}", headers=h["agent-huabo"]).json()
    assert case["reporter_count"] == 2 and case["report_count"] == 2
    assert case["state"] == "routed" and case["debunk_id"] == world["debunk_id"]
    assert "alice" not in json.dumps(case) and "contact" not in json.dumps(case)

    # Another platform's agent can neither read nor act on it.
    assert c.get(f"/v1/cases/{case_id}", headers=h["agent-other"]).status_code == 403
    bad = c.post(f"/v1/cases/{case_id}/decisions", headers=h["agent-other"],
                 json={"action": "remove", "ground": "Policy 3.1 rumors", "facts": "It is a rumor about vinegar"})
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "forbidden"
    assert case_id not in [x["id"] for x in c.get("/v1/cases", headers=h["agent-other"]).json()["items"]]

    # The platform's agent claims and acts with a statement of reasons (missing reasons are refused).
    assert c.post(f"/v1/cases/{case_id}/claim", headers=h["agent-huabo"]).status_code == 200
    no_reason = c.post(f"/v1/cases/{case_id}/decisions", headers=h["agent-huabo"],
                       json={"action": "label", "ground": "", "facts": "x"})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["details"][0]["field"] == "ground"
    dec = c.post(f"/v1/cases/{case_id}/decisions", headers=h["agent-huabo"],
                 json={"action": "label", "ground": "Community rules §4.2: false health information",
                       "facts": "The post claims vinegar kills the coronavirus; the linked debunk refutes it.",
                       "automated_detection": True})
    assert dec.status_code == 201, dec.text
    token = dec.json()["appeal_token"]

    for rec in (rec1, rec2):
        st = status(rec)
        assert st["status"] == "decided" and st["outcome"]["action"] == "label"

    # The content owner appeals; a different reviewer decides.
    ap = c.post("/v1/appeals", json={"token": token, "statement": "My post was satire, not a health claim."})
    assert ap.status_code == 201, ap.text
    assert c.post("/v1/appeals", json={"token": "forged-token", "statement": "let me in please"}).status_code == 404
    appeal_id = ap.json()["id"]
    assert c.post(f"/v1/appeals/{appeal_id}/decision", headers=h["agent-huabo"],
                  json={"outcome": "reversed", "reasons": "I changed my mind"}).status_code == 403
    ok = c.post(f"/v1/appeals/{appeal_id}/decision", headers=h["reviewer1"],
                json={"outcome": "upheld", "reasons": "The post is presented as fact, not satire."})
    assert ok.status_code == 200 and ok.json()["outcome"] == "upheld"
    assert status(rec1)["appeal"] == {"status": "decided", "outcome": "upheld"}

    # Webhooks: routed, decided, appealed — each signed with the shared secret.
    from qinglang.cases.webhooks import verify_signature

    wait_for(lambda: {"case.routed", "case.decided", "case.appealed"} <= set(hook.events()), 60, "webhooks")
    for headers, body in hook.received:
        assert verify_signature(SECRET, body, headers["x-qinglang-signature"])
        assert not verify_signature("wrong-secret", body, headers["x-qinglang-signature"])
    deliveries = c.get("/v1/webhooks/deliveries", headers=h["agent-huabo"]).json()
    assert any(d["status"] == "delivered" for d in deliveries["items"])
