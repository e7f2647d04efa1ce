"""Authentication, authorization and the one JSON error body, through the ASGI app."""

from __future__ import annotations

from typing import Any

from qinglang.store.models import Case


def _err(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["details"], list)
    return body["error"]


def test_health_and_openapi(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["jobs"]["running"] == 0
    # This app warms nothing up (no worker): its claim index is loaded by the first request that matches.
    assert ready["claim_index"]["checkpoint"] is None and ready["claim_index"]["debunks"] is None
    assert client.post("/v1/match", json={"text": "5G towers spread the virus"}).status_code == 200
    index = client.get("/readyz").json()["claim_index"]
    assert index["checkpoint"] == index["database_checkpoint"] and index["debunks"] == 0
    assert index["syncing"] is False and index["compacting"] is False
    # No worker in this app: an accepted report's job waits, and readiness shows it (not judges it).
    assert client.post("/v1/reports", json={"category": "rumor", "text": "readiness probe report"}).status_code == 201
    jobs = client.get("/readyz").json()["jobs"]
    assert jobs["due"] >= ready["jobs"]["due"] + 1 and jobs["oldest_due_seconds"] >= 0
    assert "/v1/debunks" in client.get("/openapi.json").json()["paths"]
    assert "default-src 'self'" in client.get("/healthz").headers["content-security-policy"]


def test_unauthenticated_gets_401_and_wrong_role_403(client: Any, staff: Any) -> None:
    staff.org("fc", kind="fact_checker")
    _err(client.get("/v1/cases"), 401, "unauthorized")
    _err(client.get("/v1/cases", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    _err(client.get("/v1/cases", headers={"Authorization": "Basic abc"}), 401, "unauthorized")
    expert = staff.user("exp", "expert", org="fc")
    _err(client.get("/v1/cases", headers={"Authorization": f"Bearer {expert}"}), 403, "forbidden")
    _err(client.post("/v1/orgs", headers={"Authorization": f"Bearer {expert}"},
                     json={"key": "x1", "kind": "platform", "name_zh": "x", "name_en": "x"}), 403, "forbidden")


def test_validation_errors_name_the_field(client: Any, staff: Any) -> None:
    admin = staff.user("root", "admin")
    h = {"Authorization": f"Bearer {admin}"}
    e = _err(client.post("/v1/orgs", headers=h, json={"key": "ok-key", "kind": "platform", "name_zh": "x"}),
             422, "invalid")
    assert any(d["field"] == "name_en" for d in e["details"])
    e = _err(client.post("/v1/orgs", headers=h,
                         json={"key": "ok-key", "kind": "spaceship", "name_zh": "x", "name_en": "x"}), 422, "invalid")
    assert e["details"][0]["field"] == "kind"
    _err(client.get("/v1/debunks/999"), 404, "not_found")
    r = client.post("/v1/orgs", headers=h, json={"key": "ok-key", "kind": "platform", "name_zh": "x", "name_en": "x"})
    assert r.status_code == 201
    _err(client.post("/v1/orgs", headers=h, json={"key": "ok-key", "kind": "platform", "name_zh": "x",
                                                   "name_en": "x"}), 409, "conflict")


def test_org_agent_sees_only_its_own_cases(client: Any, staff: Any, db: Any) -> None:
    a = staff.org("plat-a", domains=("a.example",))
    b = staff.org("plat-b", domains=("b.example",))
    agent_a = staff.user("agent-a", "org_agent", org="plat-a")
    reviewer = staff.user("rev", "reviewer")
    with db.write() as s:
        ca = Case(category="rumor", org_id=a, platform="a.example")
        cb = Case(category="rumor", org_id=b, platform="b.example")
        s.add_all([ca, cb])
        s.flush()
        ida, idb = ca.id, cb.id
    ha = {"Authorization": f"Bearer {agent_a}"}
    listed = [c["id"] for c in client.get("/v1/cases", headers=ha).json()["items"]]
    assert listed == [ida]
    assert client.get(f"/v1/cases/{ida}", headers=ha).status_code == 200
    _err(client.get(f"/v1/cases/{idb}", headers=ha), 403, "forbidden")
    hr = {"Authorization": f"Bearer {reviewer}"}
    assert {c["id"] for c in client.get("/v1/cases", headers=hr).json()["items"]} == {ida, idb}


def test_metrics_endpoint_counts_requests(client: Any) -> None:
    client.post("/v1/reports", json={"category": "other", "text": "metrics check"})
    text = client.get("/metrics").text
    assert "qinglang_reports_accepted_total" in text
    assert 'route="/v1/reports"' in text and 'status="201"' in text


def test_anonymous_report_fast_path_keeps_headers_and_error_bodies(client: Any) -> None:
    ok = client.post("/v1/reports", json={"category": "rumor", "text": "fast path check"})
    assert ok.status_code == 201 and len(ok.json()["receipt"]) >= 12
    assert "default-src 'self'" in ok.headers["content-security-policy"] and ok.headers["x-frame-options"] == "DENY"
    bad = client.post("/v1/reports", json={"category": "rumor", "text": 5})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "text"
    assert "default-src 'self'" in bad.headers["content-security-policy"]
