"""ClaimReview/CSV import and export round trips; bad files are rejected whole, with the position named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from qinglang import accounts
from qinglang.debunks import io as dio
from qinglang.debunks import registry
from qinglang.errors import Invalid
from qinglang.store.models import Debunk


def _org(db: Any) -> int:
    with db.write() as s:
        return accounts.create_org(s, actor="t", key="fc", kind="fact_checker", name_zh="核查", name_en="FC").id


def _count(db: Any) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(Debunk)).scalar_one())


def test_claimreview_round_trip(db: Any) -> None:
    org_id = _org(db)
    doc = [{"@type": "ClaimReview", "url": "https://fc.example/r/1", "claimReviewed": "微波炉加热的食物致癌",
            "reviewRating": {"@type": "Rating", "ratingValue": 1, "bestRating": 5, "worstRating": 1,
                             "alternateName": "谣言"}, "datePublished": "2026-03-01", "inLanguage": "zh-CN",
            "reviewBody": "微波加热不会让食物带放射性"},
           {"claimReviewed": "5G towers spread viruses", "url": "https://fc.example/r/2",
            "reviewRating": {"ratingValue": 2, "bestRating": 5, "worstRating": 1, "alternateName": "Misleading"}}]
    with db.write() as s:
        assert dio.import_items(s, None, dio.parse_claimreview(doc), org_id=org_id) == (2, 0)
    with db.write() as s:  # idempotent
        assert dio.import_items(s, None, dio.parse_claimreview(doc), org_id=org_id) == (0, 2)
    with db.read() as s:
        exported = dio.export_claimreview(s, "https://ql.example")
        csv_text = dio.export_csv(s)
    by_claim = {e["claimReviewed"]: e for e in exported}
    assert by_claim["微波炉加热的食物致癌"]["reviewRating"]["ratingValue"] == 1
    assert by_claim["5G towers spread viruses"]["inLanguage"] == "en"
    assert by_claim["微波炉加热的食物致癌"]["datePublished"] == "2026-03-01"
    verdicts = {x[1].claim: x[1].verdict for x in dio.parse_claimreview(exported)}
    assert verdicts == {"微波炉加热的食物致癌": "false", "5G towers spread viruses": "misleading"}
    parsed = dio.parse_csv(csv_text)
    assert sorted(p[1].claim for p in parsed) == sorted(by_claim)


def test_bad_files_are_rejected_whole(db: Any) -> None:
    org_id = _org(db)
    doc = [{"claimReviewed": "ok claim", "reviewRating": {"alternateName": "False"}},
           {"claimReviewed": "no verdict here", "reviewRating": {"alternateName": "¯\\_(ツ)_/¯"}}]
    with pytest.raises(Invalid) as exc:
        dio.parse_claimreview(doc)
    assert "item 2" in exc.value.message
    with pytest.raises(Invalid) as exc2:
        dio.parse_csv("claim,verdict,summary\nfine,false,ok\nbad,nonsense,x\n")
    assert "line 3" in exc2.value.message
    with pytest.raises(Invalid):
        dio.parse_csv("title,body\na,b\n")
    assert _count(db) == 0
    with db.write() as s:
        dio.import_items(s, None, dio.parse_csv("claim,verdict,summary,lang\n熏醋杀毒,false,不能,zh\n"), org_id=org_id)
    with db.read() as s:
        rows, _ = registry.search(s, registry.SearchFilters(q="熏醋"))
        assert rows[0].lang == "zh"


def test_cli_import_errors(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, QINGLANG_DATA_DIR=str(tmp_path), QINGLANG_DATABASE_URL=f"sqlite:///{tmp_path}/q.db")
    ql = [sys.executable, "-m", "qinglang.cli"]
    subprocess.run(ql + ["db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(ql + ["org", "add", "fc", "--kind", "fact_checker", "--name-zh", "核查", "--name-en", "FC"],
                   env=env, check=True, capture_output=True)
    bad = tmp_path / "bad.json"
    bad.write_text("{oops", encoding="utf-8")
    p = subprocess.run(ql + ["debunks", "import", str(bad), "--org", "fc"], env=env, capture_output=True, text=True)
    assert p.returncode == 1 and "not valid JSON" in p.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"claimReviewed": "Bananas cure cancer", "reviewRating": {"alternateName": "False"}}]))
    p = subprocess.run(ql + ["debunks", "import", str(good), "--org", "fc"], env=env, capture_output=True, text=True)
    assert p.returncode == 0 and "imported 1" in p.stdout
    p = subprocess.run(ql + ["debunks", "export", "--format", "csv"], env=env, capture_output=True, text=True)
    assert "Bananas cure cancer" in p.stdout
