"""DSA statements of reasons: every export passes the database's submission rules; broken ones are caught."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qinglang.stats import sor
from qinglang.store.db import Database
from qinglang.store.models import Case, Debunk, DebunkVersion, Decision, Organisation, Report, ReportImage
from qinglang.taxonomy import CATEGORY_CODES

T0 = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
RESTRICTING = ("remove", "restrict", "label", "warn", "escalate_law_enforcement")
GROUND = "平台社区公约第 3 条：禁止发布虚假信息 / community rule 3"
FACTS = "The post repeats a claim that an authority has debunked; it was removed after review."


def _seed(db: Database) -> dict[str, int]:
    """A case per category with one decision per restricting action, plus decisions that restrict nothing."""
    ids: dict[str, int] = {}
    with db.write() as s:
        org = Organisation(key="plat", kind="platform", name_zh="平台", name_en="Platform")
        s.add(org)
        s.flush()
        deb = Debunk(key="d1", status="published", lang="zh", org_id=org.id, current_version=1)
        s.add(deb)
        s.flush()
        s.add(DebunkVersion(debunk_id=deb.id, version=1, claim="c", verdict="false", summary="s", explanation="e",
                            topics=["food_safety"]))
        n = 0
        for cat in CATEGORY_CODES:
            for action in RESTRICTING:
                n += 1
                case = Case(category=cat, state="actioned", org_id=org.id, first_reported_at=T0,
                            debunk_id=deb.id if cat == "rumor" else None)
                s.add(case)
                s.flush()
                rep = Report(receipt=f"R{n:06d}", case_id=case.id, category=cat, text="x", lang="zh",
                             reporter_key="ip:x", trusted=(action == "warn"), created_at=T0 - timedelta(hours=2))
                s.add(rep)
                s.flush()
                if action == "restrict":
                    s.add(ReportImage(report_id=rep.id, md5="0" * 32, mime="image/png", width=1, height=1, path="p"))
                d = Decision(case_id=case.id, org_id=org.id, actor_id=None, action=action, ground=GROUND,
                             facts=FACTS, automated_detection=action == "label",
                             automated_decision=action == "label", created_at=T0 + timedelta(minutes=n))
                s.add(d)
                s.flush()
                ids[f"{cat}/{action}"] = d.id
        scanned = Case(category="fraud", state="referred", org_id=org.id, first_reported_at=T0)
        s.add(scanned)
        s.flush()
        for action in ("refer", "no_violation"):
            d = Decision(case_id=scanned.id, org_id=org.id, action=action, ground=GROUND, facts=FACTS,
                         created_at=T0 + timedelta(days=1))
            s.add(d)
            s.flush()
            ids[action] = d.id
        voluntary = Decision(case_id=scanned.id, org_id=org.id, action="remove", ground=GROUND, facts=FACTS,
                             created_at=T0 + timedelta(days=2))
        s.add(voluntary)
        s.flush()
        ids["voluntary"] = voluntary.id
    return ids


def test_every_exported_statement_passes_the_rules(db: Database) -> None:
    ids = _seed(db)
    with db.read() as s:
        sts = sor.statements(s)
    by_puid = {st["puid"]: st for st in sts}
    assert len(sts) == len(CATEGORY_CODES) * len(RESTRICTING) + 1
    assert f"qinglang-decision-{ids['refer']}" not in by_puid
    assert f"qinglang-decision-{ids['no_violation']}" not in by_puid
    for st in sts:
        assert sor.validate_statement(st) == [], st["puid"]
    categories = sor.rules()["enums"]["category"]
    assert {st["category"] for st in sts} <= set(categories)

    def get(key: str) -> dict[str, Any]:
        return by_puid[f"qinglang-decision-{ids[key]}"]

    fraud = get("fraud/remove")
    assert fraud["category"] == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    assert fraud["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert fraud["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert fraud["illegal_content_legal_ground"] == GROUND and fraud["decision_facts"] == FACTS
    assert fraud["content_date"] == "2026-05-04" and fraud["application_date"] == "2026-05-04"
    assert fraud["source_type"] == "SOURCE_ARTICLE_16" and fraud["content_language"] == "ZH"
    rumor = get("rumor/label")
    assert rumor["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert "KEYWORD_MISINFORMATION_DISINFORMATION" in rumor["category_specification"]
    assert "KEYWORD_RISK_PUBLIC_HEALTH" in rumor["category_specification"]  # the debunk's topic is food safety
    assert rumor["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_LABELLED"]
    assert (rumor["automated_detection"], rumor["automated_decision"]) == ("Yes", "AUTOMATED_DECISION_FULLY")
    assert get("minors/remove")["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert get("hate/warn")["decision_visibility_other"]
    assert get("hate/warn")["source_type"] == "SOURCE_TRUSTED_FLAGGER"
    assert get("porn/restrict")["content_type"] == ["CONTENT_TYPE_TEXT", "CONTENT_TYPE_IMAGE"]
    assert get("voluntary")["source_type"] == "SOURCE_VOLUNTARY"
    assert "puid" in get("privacy/remove") and get("privacy/remove")["category_specification_other"]

    with db.read() as s:
        window = sor.statements(s, since=T0 + timedelta(days=1), until=T0 + timedelta(days=3))
    assert [st["puid"] for st in window] == [f"qinglang-decision-{ids['voluntary']}"]


def _good() -> dict[str, Any]:
    return {"puid": "qinglang-decision-1", "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
            "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT", "illegal_content_legal_ground": GROUND,
            "illegal_content_explanation": FACTS, "content_type": ["CONTENT_TYPE_TEXT"],
            "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "content_date": "2026-05-04",
            "application_date": "2026-05-05", "decision_facts": FACTS, "source_type": "SOURCE_ARTICLE_16",
            "automated_detection": "No", "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED"}


@pytest.mark.parametrize(("change", "expect"), [
    ({"decision_facts": None}, "decision_facts: required"),
    ({"puid": "qinglang decision 1"}, "puid: must match"),
    ({"puid": "x" * 501}, "puid: longer than 500"),
    ({"category": "STATEMENT_CATEGORY_RUMOURS"}, "category: 'STATEMENT_CATEGORY_RUMOURS' is not an allowed"),
    ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other: required"),
    ({"decision_visibility": "DECISION_VISIBILITY_CONTENT_REMOVED"}, "decision_visibility: must be an array"),
    ({"decision_visibility": None}, "one of decision_visibility"),
    ({"decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT"}, "incompatible_content_ground: required"),
    ({"illegal_content_explanation": None}, "illegal_content_explanation: required"),
    ({"content_date": "1999-12-31"}, "content_date: 1999-12-31 is outside"),
    ({"application_date": "2026-02-30"}, "not a calendar date"),
    ({"application_date": "05/05/2026"}, "application_date: must be a date"),
    ({"automated_detection": True}, "automated_detection: True is not an allowed"),
    ({"content_type": ["CONTENT_TYPE_OTHER"]}, "content_type_other: required"),
    ({"decision_facts": "f" * 5001}, "decision_facts: longer than 5000"),
    ({"territorial_scope": ["DE", "CN"]}, "territorial_scope: 'CN' is not an allowed"),
    ({"end_date_visibility_restriction": "2040-01-01"}, "after 2038-01-01"),
    ({"decision_ground_reference_url": "javascript:alert(1)"}, "must be an http(s) URL"),
    ({"content_language": "zh"}, "content_language: 'zh' is not an allowed"),
])
def test_broken_statements_are_caught(change: dict[str, Any], expect: str) -> None:
    assert sor.validate_statement(_good()) == []
    st = {**_good(), **change}
    errors = sor.validate_statement(st)
    assert any(expect in e for e in errors), errors


def test_rules_file_is_the_shared_summary() -> None:
    shipped = sor.rules()
    assert set(shipped) >= {"required", "one_of_required", "required_if", "max_length", "arrays", "formats", "enums"}
    ref = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "dsa-statement-of-reasons.json"
    if ref.exists():
        assert json.loads(ref.read_text(encoding="utf-8")) == shipped


def test_cli_export_writes_a_json_array(db: Database, tmp_path: Path) -> None:
    _seed(db)
    env = dict(os.environ, QINGLANG_DATA_DIR=str(tmp_path), QINGLANG_DATABASE_URL=db.url)
    out = tmp_path / "sor.json"
    p = subprocess.run([sys.executable, "-m", "qinglang.cli", "export", "sor", "-o", str(out), "--since",
                        "2026-05-05"], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    items = json.loads(out.read_text(encoding="utf-8"))
    assert [st["source_type"] for st in items] == ["SOURCE_VOLUNTARY"]
    p = subprocess.run([sys.executable, "-m", "qinglang.cli", "export", "sor"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and len(json.loads(p.stdout)) == len(CATEGORY_CODES) * len(RESTRICTING) + 1
    p = subprocess.run([sys.executable, "-m", "qinglang.cli", "export", "sor", "--since", "May 5"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "since" in p.stderr
