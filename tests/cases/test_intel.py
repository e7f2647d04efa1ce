"""Blocklists, hash banks, indicator networks and campaigns, through the API and the real pipeline."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import select

from qinglang.jobs.worker import drain
from qinglang.media.hashing import md5, pdq
from qinglang.store.models import Case, Report


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _image() -> bytes:
    img = Image.new("RGB", (128, 128), (240, 240, 240))
    d = ImageDraw.Draw(img)
    for i in range(0, 128, 16):
        d.rectangle([i, i // 2, i + 12, 127 - i // 2], fill=(i * 2, 40, 200 - i))
        d.ellipse([127 - i, i, 127, i + 20], fill=(20, i * 2, 90))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_blocklist_management_and_hits(client: Any, staff: Any, db: Any) -> None:
    staff.org("cac", kind="regulator")
    staff.org("plat", domains=("plat.example",), supervisor="cac")
    rev = _h(staff.user("rev", "reviewer", org="cac"))
    agent = _h(staff.user("agent", "org_agent", org="plat"))
    r = client.post("/v1/blocklist", headers=rev, json={"kind": "phone", "value": "138 0013 8000",
                                                        "source": "anti-fraud centre", "reason": "fake police"})
    assert r.status_code == 201 and r.json()["value"] == "+8613800138000"
    assert client.post("/v1/blocklist", headers=rev, json={"kind": "phone", "value": "+86 13800138000",
                                                           "source": "x"}).status_code == 409
    assert client.post("/v1/blocklist", headers=rev, json={"kind": "planet", "value": "mars",
                                                           "source": "x"}).json()["error"]["details"][0]["field"] \
        == "kind"
    assert client.post("/v1/blocklist", headers=agent, json={"kind": "domain", "value": "x.example",
                                                             "source": "x"}).status_code == 403
    assert client.post("/v1/blocklist", headers=rev, json={"kind": "domain", "value": "scam-pay.top",
                                                           "source": "cert"}).status_code == 201

    texts = ["我是公安局的，你涉嫌洗钱，马上打13800138000配合调查",
             "Your account is frozen. Verify at https://login.scam-pay.top/verify now",
             "兼职刷单日结，联系 13800138000 加微信"]
    for i, t in enumerate(texts):
        assert client.post("/v1/reports", json={"category": "fraud", "text": t,
                                                "url": f"https://plat.example/p/{i}"}).status_code == 201
    drain(db)
    with db.read() as s:
        cases = list(s.execute(select(Case).order_by(Case.id)).scalars())
    assert len(cases) == 3
    assert {h["value"] for h in cases[0].triage["blocklist_hits"]} == {"+8613800138000"}
    assert cases[1].triage["blocklist_hits"][0]["listed"] == "domain:scam-pay.top"
    # A later report on the same post, without the number, keeps the case's earlier hits and indicators.
    client.post("/v1/reports", json={"category": "fraud", "text": "this caller pretends to be police",
                                     "url": "https://plat.example/p/0"})
    drain(db)
    with db.read() as s:
        first = s.get(Case, cases[0].id)
        assert first.report_count == 2
        assert {h["value"] for h in first.triage["blocklist_hits"]} == {"+8613800138000"}
        assert any(i["value"] == "+8613800138000" for i in first.triage["indicators"])
    nets = client.get("/v1/networks", headers=rev).json()["items"]
    phone = next(n for n in nets if n["indicator"]["value"] == "+8613800138000")
    assert phone["case_count"] == 2 and {c["id"] for c in phone["cases"]} == {cases[0].id, cases[2].id}
    assert client.get("/v1/networks").status_code == 401


def test_hash_bank_flags_known_images(client: Any, staff: Any, db: Any) -> None:
    staff.org("cac", kind="regulator")
    rev = _h(staff.user("rev", "reviewer", org="cac"))
    blob = _image()
    assert client.post("/v1/hash-banks", headers=rev, json={"name": "csam-known", "source_org": "cac",
                                                           "action_policy": "auto_flag"}).status_code == 201
    h = pdq(Image.open(io.BytesIO(blob)))
    csv_text = f"signal_value,signal_type,tags\n{h.hex},pdq,known\n{md5(b'other')},md5,known\n"
    r = client.post("/v1/hash-banks/csam-known/import", headers=rev, content=csv_text.encode())
    assert r.json() == {"added": 2, "skipped": 0}
    bad = client.post("/v1/hash-banks/csam-known/import", headers=rev, content=b"signal_value,signal_type\nzz,pdq\n")
    assert bad.status_code == 422
    exported = client.get("/v1/hash-banks/csam-known/export", headers=rev).text
    assert h.hex in exported and "signal_type" in exported.splitlines()[0]
    # A slightly re-encoded copy of the image still matches by PDQ.
    img = Image.open(io.BytesIO(blob)).convert("RGB").resize((120, 120))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    assert client.post("/v1/reports", data={"category": "minors", "description": "abuse image"},
                       files=[("images", ("x.jpg", buf.getvalue(), "image/jpeg"))]).status_code == 201
    drain(db)
    with db.read() as s:
        case = s.execute(select(Case)).scalar_one()
    assert case.triage["hash_bank_hits"][0]["bank"] == "csam-known"
    assert case.priority_explain["detector_boost"]["value"] == 2.0


def test_campaign_boosts_priority(client: Any, staff: Any, db: Any) -> None:
    staff.org("cac", kind="regulator")
    mgr = _h(staff.user("mgr", "campaign_manager", org="cac"))
    now = datetime.now(UTC)
    body = {"key": "qinglang-2026-fraud", "name_zh": "清朗·反诈专项", "name_en": "Anti-fraud drive",
            "categories": ["fraud"], "starts_at": (now - timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(), "boost": 2.0}
    assert client.post("/v1/campaigns", headers=mgr, json=body).status_code == 201
    assert client.post("/v1/campaigns", headers=mgr, json={**body, "key": "bad", "categories": ["ufo"]}
                       ).status_code == 422
    assert client.post("/v1/campaigns", json=body).status_code == 401
    client.post("/v1/reports", json={"category": "fraud", "text": "投资理财群，稳赚不赔，日收益5%"})
    client.post("/v1/reports", json={"category": "hate", "text": "some abusive words against a group"})
    drain(db)
    with db.read() as s:
        fraud = s.execute(select(Case).where(Case.category == "fraud")).scalar_one()
        hate = s.execute(select(Case).where(Case.category == "hate")).scalar_one()
        assert s.execute(select(Report).where(Report.case_id == fraud.id)).scalar_one()
    assert fraud.campaign_id is not None and fraud.priority_explain["campaign_boost"]["value"] == 2.0
    assert hate.priority_explain["campaign_boost"]["value"] == 1.0
    listed = client.get("/v1/campaigns").json()["items"][0]
    assert listed["active"] and listed["cases"] == 1
