"""Invariants of the team-written fixtures: the zh/en claim-matching set and the bundled demo data.

These tests read the real files (tests/data/match_zh/ and the package's data/demo/) and fail on any broken
reference, duplicate id, malformed line or skewed language mix. They never rewrite or generate the files.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from qinglang.taxonomy import ACTION_CODES, CATEGORY_CODES, ORG_KINDS, TOPICS, VERDICT_CODES
from qinglang.text.normalize import detect_lang, nfkc, to_simplified

MATCH_DIR = Path(__file__).parent / "match_zh"
DEMO = resources.files("qinglang").joinpath("data", "demo")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"{path.name}:{n} is blank"
        rows.append(json.loads(line))
    return rows


def _tsv(path: Path, width: int) -> list[list[str]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        cols = line.split("\t")
        assert len(cols) == width, f"{path.name}:{n} has {len(cols)} columns, expected {width}"
        assert all(c.strip() for c in cols), f"{path.name}:{n} has an empty column"
        rows.append(cols)
    return rows


# --- claim-matching set ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pools() -> dict[str, list[dict[str, Any]]]:
    return {lang: _jsonl(MATCH_DIR / f"pool_{lang}.jsonl") for lang in ("zh", "en")}


@pytest.fixture(scope="module")
def queries() -> dict[str, dict[str, str]]:
    return {lang: dict(_tsv(MATCH_DIR / f"queries_{lang}.tsv", 2)) for lang in ("zh", "en")}  # type: ignore[misc]


@pytest.fixture(scope="module")
def qrels() -> list[list[str]]:
    return _tsv(MATCH_DIR / "qrels.tsv", 4)


def test_pools_have_same_unique_ids_in_both_languages(pools: dict[str, list[dict[str, Any]]]) -> None:
    for lang, rows in pools.items():
        ids = [r["vclaim_id"] for r in rows]
        assert len(ids) == len(set(ids)), f"duplicate vclaim_id in pool_{lang}"
        assert len(rows) >= 130
        for r in rows:
            assert set(r) == {"vclaim_id", "vclaim", "title"}
            assert r["vclaim"].strip() and r["title"].strip()
            assert detect_lang(r["vclaim"]) == lang, r
    assert [r["vclaim_id"] for r in pools["zh"]] == [r["vclaim_id"] for r in pools["en"]]
    claims = [r["vclaim"] for r in pools["zh"]]
    assert len(claims) == len(set(claims)), "two zh claims are identical"


def test_queries_match_across_languages(queries: dict[str, dict[str, str]]) -> None:
    for lang in ("zh", "en"):
        ids = [row[0] for row in _tsv(MATCH_DIR / f"queries_{lang}.tsv", 2)]
        assert len(ids) == len(set(ids)), f"duplicate qid in queries_{lang}"
        assert all(re.fullmatch(r"q\d{3}", q) for q in ids)
    assert queries["zh"].keys() == queries["en"].keys()
    assert len(queries["zh"]) >= 100
    for qid in queries["zh"]:
        assert detect_lang(queries["zh"][qid]) == "zh", qid
        assert detect_lang(queries["en"][qid]) == "en", qid


def test_qrels_one_relevant_claim_per_query(
    qrels: list[list[str]], queries: dict[str, dict[str, str]], pools: dict[str, list[dict[str, Any]]]
) -> None:
    ids = {r["vclaim_id"] for r in pools["zh"]}
    qids = [row[0] for row in qrels]
    assert len(qids) == len(set(qids)), "a query has more than one qrels line"
    assert set(qids) == queries["zh"].keys()
    for qid, zero, vclaim_id, rel in qrels:
        assert (zero, rel) == ("0", "1"), qid
        assert vclaim_id in ids, qid
    per_claim = Counter(row[2] for row in qrels)
    assert max(per_claim.values()) <= 2, per_claim.most_common(3)
    assert len(per_claim) >= 100, "most claims must be the target of some query"
    assert len(ids - per_claim.keys()) >= 20, "the pool needs untargeted distractors"


def test_queries_paraphrase_rather_than_copy_their_claim(
    qrels: list[list[str]], queries: dict[str, dict[str, str]], pools: dict[str, list[dict[str, Any]]]
) -> None:
    for lang in ("zh", "en"):
        claim = {r["vclaim_id"]: r["vclaim"] for r in pools[lang]}
        for qid, _, vclaim_id, _ in qrels:
            post = to_simplified(nfkc(queries[lang][qid])).lower()
            assert claim[vclaim_id].lower().rstrip(".") not in post, (lang, qid)


def test_queries_include_real_world_surface_forms(queries: dict[str, dict[str, str]]) -> None:
    posts = list(queries["zh"].values())
    assert sum(to_simplified(p) != p for p in posts) >= 5, "too few Traditional-character posts"
    assert sum(nfkc(p) != p and re.search(r"[Ａ-Ｚａ-ｚ０-９]", p) is not None for p in posts) >= 5
    assert any("http" in p for p in posts)
    assert any("@" in p for p in posts)
    lengths = sorted(len(p) for p in posts)
    assert lengths[0] < 15 and lengths[-1] > 100


# --- demo data ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def orgs() -> dict[str, dict[str, Any]]:
    rows = json.loads(DEMO.joinpath("organisations.json").read_text(encoding="utf-8"))
    keys = [o["key"] for o in rows]
    assert len(keys) == len(set(keys))
    return {o["key"]: o for o in rows}


def _domains(orgs: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {d: k for k, o in orgs.items() for d in o["jurisdiction"]["domains"]}


def test_organisations_are_consistent(orgs: dict[str, dict[str, Any]]) -> None:
    kinds = Counter(o["kind"] for o in orgs.values())
    assert kinds["regulator"] == 1 and kinds["agency"] == 1 and kinds["platform"] == 3
    assert kinds["fact_checker"] + kinds["expert_panel"] == 2
    regulator = next(k for k, o in orgs.items() if o["kind"] == "regulator")
    for key, o in orgs.items():
        assert o["kind"] in ORG_KINDS
        assert o["name_zh"].strip() and o["name_en"].strip()
        assert set(o["jurisdiction"]) == {"categories", "regions", "domains"}
        assert set(o["jurisdiction"]["categories"]) <= set(CATEGORY_CODES)
        assert all(d.endswith(".example") for d in o["jurisdiction"]["domains"]), key
        expected = regulator if o["kind"] in ("platform", "fact_checker", "expert_panel") else None
        assert o["supervisor"] == expected, key
    assert len(_domains(orgs)) == 3


def test_routing_rules_reference_known_orgs_and_codes(orgs: dict[str, dict[str, Any]]) -> None:
    rules = json.loads(DEMO.joinpath("routing_rules.json").read_text(encoding="utf-8"))
    domains = _domains(orgs)
    for r in rules:
        assert set(r) == {"category", "domain", "region", "org", "priority"}
        assert r["org"] in orgs
        assert r["category"] is None or r["category"] in CATEGORY_CODES
        assert r["domain"] is None or r["domain"] in domains
        assert isinstance(r["priority"], int)
    # Every platform domain routes to its own platform by some rule.
    for domain, owner in domains.items():
        assert any(r["domain"] == domain and r["org"] == owner and r["category"] is None for r in rules)


def test_debunks_are_valid_and_bilingual(orgs: dict[str, dict[str, Any]]) -> None:
    lines = DEMO.joinpath("debunks.jsonl").read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines]
    assert len(items) >= 60
    keys = [d["key"] for d in items]
    assert len(keys) == len(set(keys))
    zh_share = sum(d["lang"] == "zh" for d in items) / len(items)
    assert 0.4 <= zh_share <= 0.6
    authors = {k for k, o in orgs.items() if o["kind"] in ("fact_checker", "expert_panel")}
    topic_count: Counter[str] = Counter()
    for d in items:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", d["key"]), d["key"]
        assert d["lang"] in ("zh", "en")
        assert detect_lang(d["claim"]) == d["lang"], d["key"]
        assert detect_lang(d["explanation"]) == d["lang"], d["key"]
        assert 2 <= len(d["variants"]) <= 4 and d["claim"] not in d["variants"], d["key"]
        assert d["verdict"] in VERDICT_CODES
        assert d["summary"].strip() and len(d["explanation"]) >= 150, d["key"]
        assert d["org"] in authors
        assert d["topics"] and set(d["topics"]) <= set(TOPICS)
        topic_count.update(d["topics"])
        assert date.fromisoformat(d["published"]).year == 2026
        assert d["sources"]
        for s in d["sources"]:
            assert urlsplit(s["url"]).scheme in ("http", "https") and s["title"] and s["publisher"]
    assert set(topic_count) == set(TOPICS)
    assert min(topic_count.values()) >= 8
    verdicts = Counter(d["verdict"] for d in items)
    assert verdicts["false"] + verdicts["misleading"] > len(items) / 2
    assert {"true", "unproven", "partly_false"} <= set(verdicts)


def test_reports_are_valid(orgs: dict[str, dict[str, Any]]) -> None:
    reports = json.loads(DEMO.joinpath("reports.json").read_text(encoding="utf-8"))
    assert 12 <= len(reports) <= 20
    domains = _domains(orgs)
    for r in reports:
        assert set(r) == {"category", "url", "text", "description", "platform", "contact", "days_ago",
                          "decision", "appeal"}
        assert r["category"] in CATEGORY_CODES
        assert r["platform"] in domains and urlsplit(r["url"]).hostname == r["platform"]
        assert r["text"].strip() and r["description"].strip()
        assert isinstance(r["days_ago"], int) and r["days_ago"] >= 0
        dec = r["decision"]
        if dec is not None:
            assert dec["action"] in ACTION_CODES
            assert dec["ground"].strip() and dec["facts"].strip()
            assert isinstance(dec["automated_detection"], bool)
            assert 0 <= dec["decided_days_ago"] <= r["days_ago"]
        if r["appeal"] is not None:
            assert dec is not None, "an appeal needs a decision"
            assert r["appeal"]["outcome"] in ("upheld", "reversed") and r["appeal"]["statement"].strip()
    decided = sum(r["decision"] is not None for r in reports)
    assert 0.3 <= decided / len(reports) <= 0.7
    assert 1 <= sum(r["appeal"] is not None for r in reports) <= 2
    assert max(Counter(r["url"] for r in reports).values()) >= 2, "no reports share a URL"
    langs = {detect_lang(r["text"]) for r in reports}
    assert langs == {"zh", "en"}
