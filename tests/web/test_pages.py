"""Public pages through the app in-process: language choice, escaping, JSON-LD, the Atom feed, security headers."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from qinglang.auth.policy import Principal
from qinglang.debunks import registry
from qinglang.store.db import Database
from qinglang.store.models import User

PAYLOAD = '<script>alert("x")</script></script><img src=x onerror=alert(1)>'


def publish(db: Database, staff: Any, claim: str, *, lang: str = "en", verdict: str = "false") -> int:
    with db.read() as s:
        known = s.query(User).filter_by(username="writer").first() is not None
    if not known:
        staff.org("fc", kind="fact_checker")
        staff.user("writer", "expert", org="fc")
    with db.write() as s:
        user = s.query(User).filter_by(username="writer").one()
        org_id = user.org_id
        d = registry.create(s, Principal.of(user, via="cli"), registry.DebunkInput(
            claim=claim, verdict=verdict, summary=f"summary of {claim}", explanation="line one\nline two",
            lang=lang, variants=[f"variant {claim}"], sources=[{"url": "https://example.org/e", "title": claim}]),
            org_id=org_id, status="published")
        return d.id


def test_language_from_query_cookie_and_accept_language(client: Any) -> None:
    r = client.get("/", headers={"accept-language": "en-GB,en;q=0.9"})
    assert 'lang="en"' in r.text and "Check a message" in r.text
    r = client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert 'lang="zh-CN"' in r.text and "查一查" in r.text
    r = client.get("/?lang=en", headers={"accept-language": "zh-CN"})
    assert "Check a message" in r.text and "qinglang_lang=en" in r.headers["set-cookie"]
    r = client.get("/debunks", headers={"accept-language": "zh-CN"})  # the cookie persists the choice
    assert "Debunk library" in r.text


def test_pages_send_csp_and_no_inline_script_or_style(client: Any, db: Database, staff: Any) -> None:
    did = publish(db, staff, "Vaccines contain microchips")
    for path in ("/", "/debunks", f"/debunks/{did}", "/report", "/track", "/transparency", "/check",
                 "/console/login"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert " style=" not in r.text and "<style" not in r.text, path
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, flags=re.S)
        for attrs, body in scripts:
            assert 'src="/static/' in attrs or ('application/ld+json' in attrs), path
            assert body.strip() == "" or "application/ld+json" in attrs


def test_user_content_is_escaped_and_json_ld_cannot_break_out(client: Any, db: Database, staff: Any) -> None:
    did = publish(db, staff, PAYLOAD)
    r = client.get(f"/debunks/{did}?lang=en")
    assert PAYLOAD not in r.text
    assert "&lt;script&gt;alert(" in r.text
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', r.text, flags=re.S)
    assert len(blocks) == 1
    data = json.loads(blocks[0])
    assert data["claimReviewed"] == PAYLOAD and data["reviewRating"]["ratingValue"] == 1
    listing = client.get("/debunks?lang=en").text
    assert PAYLOAD not in listing and "&lt;img src=x" in listing


def test_atom_feed_is_well_formed_and_lists_published_debunks(client: Any, db: Database, staff: Any) -> None:
    publish(db, staff, "Drinking bleach cures flu & colds <b>")
    r = client.get("/debunks/feed.atom?lang=en")
    assert r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.text for e in root.findall("a:entry/a:title", ns)]
    assert titles == ["[False] Drinking bleach cures flu & colds <b>"]


def test_debunk_search_filters_and_unknown_pages(client: Any, db: Database, staff: Any) -> None:
    publish(db, staff, "Garlic cures covid")
    publish(db, staff, "Moon landing was staged", verdict="misleading")
    r = client.get("/debunks?q=garlic&lang=en")
    assert "Garlic cures covid" in r.text and "Moon landing" not in r.text
    r = client.get("/debunks?verdict=misleading&lang=en")
    assert "Moon landing" in r.text and "Garlic" not in r.text
    missing = client.get("/debunks/99999?lang=en")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert client.get("/v1/debunks/99999").json()["error"]["code"] == "not_found"  # API stays JSON
    bad = client.get("/debunks?page=zero&lang=en")
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"] and "page" in bad.text
    assert client.get("/v1/debunks?limit=zero").json()["error"]["code"] == "invalid"


def test_report_form_rejects_bad_input_and_keeps_values(client: Any) -> None:
    r = client.post("/report?lang=en", data={"category": "nonsense", "text": "kept <b>text</b>"})
    assert r.status_code == 422
    assert "kept &lt;b&gt;text&lt;/b&gt;" in r.text and 'role="alert"' in r.text
    r = client.post("/report", data={"category": "fraud", "text": "Call 13800138000 for your refund"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/track?receipt=")
    page = client.get(r.headers["location"] + "&lang=en")
    assert "Thank you, your report is in." in page.text
    assert client.get("/track?receipt=NOSUCHRECEIPT").status_code == 404


def _png(seed: int) -> bytes:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (64, 48), (seed * 40 % 256, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


def test_report_with_screenshots(client: Any) -> None:
    one = [("images", ("shot.png", _png(1), "image/png"))]
    r = client.post("/report", data={"category": "porn", "url": "https://x.example/a"}, files=one,
                    follow_redirects=False)
    assert r.status_code == 303
    five = [("images", (f"s{i}.png", _png(i), "image/png")) for i in range(5)]
    r = client.post("/report?lang=en", data={"category": "porn", "url": "https://x.example/a"}, files=five)
    assert r.status_code == 422 and "at most 4 images" in r.text



def test_report_form_takes_images_up_to_the_api_limit(client: Any) -> None:
    # The form once capped images at 8 MB while the API takes 10 MB: a 9 MB screenshot must go through both.
    from io import BytesIO

    import numpy as np
    from PIL import Image

    buf = BytesIO()
    noise = np.random.default_rng(5).integers(0, 256, (1800, 1800, 3), dtype=np.uint8)  # incompressible
    Image.fromarray(noise).save(buf, format="PNG", compress_level=0)
    big = buf.getvalue()
    assert 9 * 1024 * 1024 < len(big) < 10 * 1024 * 1024
    r = client.post("/report", data={"category": "porn", "url": "https://x.example/big"},
                    files=[("images", ("big.png", big, "image/png"))], follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    huge = big + b"\0" * (10 * 1024 * 1024 + 1 - len(big))
    r = client.post("/report?lang=en", data={"category": "porn", "url": "https://x.example/big"},
                    files=[("images", ("huge.png", huge, "image/png"))])
    assert r.status_code == 413 and "at most 10 MB" in r.text
    assert "10 MB each" in client.get("/report?lang=en").text


def test_check_page_takes_an_optional_post_date(client: Any, db: Database, staff: Any) -> None:
    did = publish(db, staff, "Drinking hot water with lemon cures cancer")
    r = client.get("/check", params={"text": "hot lemon water cures cancer", "date": "2020-03-01", "lang": "en"})
    assert r.status_code == 200 and f'href="/debunks/{did}"' in r.text and 'value="2020-03-01"' in r.text
    r = client.get("/check", params={"text": "hot lemon water cures cancer", "date": "<b>someday</b>", "lang": "en"})
    assert r.status_code == 422 and "could not be read" in r.text and 'aria-invalid="true"' in r.text
    assert "<b>someday</b>" not in r.text and "&lt;b&gt;someday&lt;/b&gt;" in r.text
    assert f'href="/debunks/{did}"' not in r.text  # nothing matched on a rejected request
