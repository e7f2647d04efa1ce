"""POST /v1/match input checks through the ASGI app (matching itself is tested in tests/match)."""

from __future__ import annotations

from typing import Any


def test_match_takes_an_optional_post_date_and_names_a_bad_one(client: Any) -> None:
    ok = client.post("/v1/match", json={"text": "5G towers spread the virus", "date": "2021-01-28"})
    assert ok.status_code == 200 and ok.json() == {"results": []}  # no published debunks yet
    for bad in ("someday", "2021-02-30"):
        r = client.post("/v1/match", json={"text": "5G towers spread the virus", "date": bad})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["field"] == "date"
    r = client.post("/v1/match", json={"text": "x", "date": 20210128})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "date"
