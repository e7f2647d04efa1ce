"""Public intake through the ASGI app: durable before the 201, clear 4xx errors naming the field, rate limits."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from qinglang.cases.urls import canonical_url
from qinglang.errors import Invalid
from qinglang.store.models import Job, Report, ReportImage


def _err(resp: Any, status: int, field: str | None) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    if field is not None:
        assert any(d.get("field") == field for d in body["details"]), body


def _png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_report_is_committed_before_ack_and_contact_is_encrypted(client: Any, db: Any, tmp_path: Path) -> None:
    r = client.post("/v1/reports", json={"category": "fraud", "url": "https://huabo.example/p/1?utm_source=x",
                                         "text": "您的快递已被扣留，请点击链接处理", "contact": "reporter@example.org"})
    assert r.status_code == 201, r.text
    receipt = r.json()["receipt"]
    assert len(receipt) >= 12 and r.json()["status_url"].endswith(receipt)
    with db.read() as s:
        row = s.execute(select(Report).where(Report.receipt == receipt)).scalar_one()
        assert row.canonical_url == "https://huabo.example/p/1" and row.platform == "huabo.example"
        assert row.contact_enc and "reporter@example.org" not in row.contact_enc
        assert s.execute(select(func.count()).select_from(Job).where(Job.kind == "process_report")).scalar() == 1
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("qinglang.db*"))
    assert b"reporter@example.org" not in raw
    st = client.get(f"/v1/reports/{receipt}").json()
    assert st["receipt"] == receipt and st["status"] in ("received", "processing") and "contact" not in st
    assert client.get("/v1/reports/NOSUCHRECEIPT123").status_code == 404


def test_bad_input_is_rejected_with_the_field_named(client: Any, db: Any) -> None:
    _err(client.post("/v1/reports", json={"category": "aliens", "text": "x"}), 422, "category")
    _err(client.post("/v1/reports", json={"category": "rumor", "text": "x" * 10_001}), 422, "text")
    _err(client.post("/v1/reports", json={"category": "rumor", "text": ["not", "a", "string"]}), 422, "text")
    _err(client.post("/v1/reports", json={"category": "rumor"}), 422, "text")
    _err(client.post("/v1/reports", json={"category": "rumor", "url": "javascript:alert(1)"}), 422, "url")
    _err(client.post("/v1/reports", json={"category": "rumor", "text": "a", "claimed_views": -1}), 422,
         "claimed_views")
    _err(client.post("/v1/reports", content=b"{not json", headers={"content-type": "application/json"}), 422, "body")
    _err(client.post("/v1/reports", content=b"[1,2]", headers={"content-type": "application/json"}), 422, "body")
    _err(client.post("/v1/reports", content=b"{" + b" " * 70_000 + b"}",
                     headers={"content-type": "application/json"}), 413, "body")
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Report)).scalar() == 0


def test_images_are_hashed_and_bad_images_rejected(client: Any, db: Any) -> None:
    files = [("images", ("a.png", _png(), "image/png")), ("images", ("b.png", _png((0, 0, 255)), "image/png"))]
    r = client.post("/v1/reports", data={"category": "porn", "description": "explicit ad"}, files=files)
    assert r.status_code == 201, r.text
    with db.read() as s:
        imgs = s.execute(select(ReportImage)).scalars().all()
        assert len(imgs) == 2 and all(len(i.md5) == 32 and i.pdq and len(i.pdq) == 64 for i in imgs)
        assert all(Path(i.path).exists() for i in imgs)
    _err(client.post("/v1/reports", data={"category": "porn"},
                     files=[("images", ("x.png", b"GIF89a not really", "image/png"))]), 422, "images.0")
    _err(client.post("/v1/reports", data={"category": "porn"},
                     files=[("images", ("t.png", _png()[:60], "image/png"))]), 422, "images.0")
    _err(client.post("/v1/reports", data={"category": "porn"},
                     files=[("images", (f"{i}.png", _png(), "image/png")) for i in range(5)]), 422, "images")
    _err(client.post("/v1/reports", data={"category": "porn"},
                     files=[("evil", ("e.png", _png(), "image/png"))]), 422, "evil")


def test_rate_limit_answers_429(settings: Any) -> None:
    from fastapi.testclient import TestClient

    from qinglang.api.app import create_app

    settings.rate_limit = 2
    with TestClient(create_app(settings, start_worker=False)) as c:
        codes = [c.post("/v1/reports", json={"category": "other", "text": f"report {i}"}).status_code
                 for i in range(3)]
        assert codes == [201, 201, 429]
        body = c.post("/v1/reports", json={"category": "other", "text": "again"}).json()
        assert body["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("raw, expected", [
    ("https://www.Huabo.example/p/1/?utm_source=wx&spm=a.b&id=7#top", "https://huabo.example/p/1?id=7"),
    ("huabo.example/p/1", "https://huabo.example/p/1"),
    ("http://m.huabo.example:80/p/1?b=2&a=1", "https://huabo.example/p/1?a=1&b=2"),
])
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw)[0] == expected


def test_canonical_url_rejects_non_http() -> None:
    with pytest.raises(Invalid):
        canonical_url("ftp://example.com/x")
    with pytest.raises(Invalid):
        canonical_url("https://localhost")


def test_trusted_flagger_reports_raise_priority(client: Any, db: Any) -> None:
    from qinglang import accounts
    from qinglang.jobs.worker import drain
    from qinglang.store.models import Case

    with db.write() as s:
        accounts.create_org(s, actor="t", key="ngo", kind="volunteer_group", name_zh="志愿者", name_en="Volunteers")
        accounts.create_user(s, actor="t", username="flagger", role="reviewer", org="ngo", password=None)
        _, token = accounts.create_token(s, actor="t", username="flagger", trusted_flagger=True)
    r1 = client.post("/v1/reports", json={"category": "minors", "text": "grooming messages to a child account",
                                          "url": "https://a.example/1"}, headers={"Authorization": f"Bearer {token}"})
    r2 = client.post("/v1/reports", json={"category": "minors", "text": "another post about something else",
                                          "url": "https://a.example/2"})
    assert r1.status_code == r2.status_code == 201
    drain(db)
    with db.read() as s:
        flagged, plain = (s.execute(select(Case).where(Case.canonical_url == f"https://a.example/{i}")).scalar_one()
                          for i in (1, 2))
        assert s.execute(select(Report.trusted).where(Report.case_id == flagged.id)).scalar() is True
    assert flagged.priority_explain["reporter_trust"]["value"] == 2.0
    assert plain.priority_explain["reporter_trust"]["value"] == 1.0
    assert flagged.priority > plain.priority


def test_instant_answer_in_the_receipt(client: Any, db: Any, settings: Any) -> None:
    from qinglang.debunks import registry
    from qinglang.demo import load_demo
    from qinglang.match.store_source import holder
    from qinglang.store.models import Debunk

    load_demo(db, settings)  # 69 published debunks, indexed
    with db.read() as s:
        d = s.execute(select(Debunk).where(Debunk.key == "zh-days-of-darkness")).scalar_one()
        claim = registry.current(registry.get(s, d.id)).claim
    holder(db).get()  # the server warms the index up at start; here the test does it
    r = client.post("/v1/reports", json={"category": "rumor", "text": f"【紧急扩散】{claim}！！转给家人"})
    body = r.json()
    assert r.status_code == 201 and body["debunk"]["id"] == d.id
    assert body["debunk"]["match"]["band"] == "match" and body["debunk"]["verdict"] == "false"
