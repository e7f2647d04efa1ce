"""Workflow rules: race-free claims, statements of reasons, referral, appeals by someone else, reporter trust."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from qinglang import accounts
from qinglang.auth.policy import Principal
from qinglang.cases import intake, pipeline, workflow
from qinglang.cases.status import report_status
from qinglang.errors import Conflict, Forbidden, Invalid
from qinglang.store.models import Case, Decision, Report, ReporterStats


def _p(db: Any, username: str) -> Principal:
    with db.read() as s:
        return Principal.of(accounts.user_by_name(s, username), via="cli")


def _report(db: Any, settings: Any, text: str, *, url: str | None = None, who: str = "1.2.3.4",
            category: str = "rumor") -> str:
    r = intake.submit_report(db, settings, intake.ReportInput(category=category, text=text, url=url), client_key=who)
    pipeline.process_reports(db, [r.report_id])
    return r.receipt


@pytest.fixture
def world(db: Any, staff: Any, settings: Any) -> dict[str, Any]:
    staff.org("cac", kind="regulator")
    staff.org("plat", domains=("plat.example",), supervisor="cac")
    staff.org("police", kind="agency")
    for name, role, org in (("a1", "org_agent", "plat"), ("a2", "org_agent", "plat"),
                            ("ann_reviewer", "reviewer", "cac"),
                            ("bo_reviewer", "reviewer", "cac"), ("cop", "org_agent", "police")):
        staff.user(name, role, org=org)
    from qinglang.cases.routing import add_rule

    with db.write() as s:
        add_rule(s, actor="t", org="plat", domain="plat.example")
    receipt = _report(db, settings, "Salt water gargles cure the virus", url="https://plat.example/p/1")
    with db.read() as s:
        case_id = s.execute(select(Report.case_id).where(Report.receipt == receipt)).scalar_one()
    return {"case": case_id, "receipt": receipt}


def test_only_one_of_two_simultaneous_claims_wins(db: Any, world: dict[str, Any]) -> None:
    results: list[str] = []
    barrier = threading.Barrier(2)

    def go(name: str) -> None:
        barrier.wait()
        try:
            workflow.claim(db, _p(db, name), world["case"])
            results.append("won")
        except Conflict:
            results.append("lost")

    threads = [threading.Thread(target=go, args=(n,)) for n in ("a1", "a2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost", "won"]


def test_decision_needs_reasons_and_respects_claims(db: Any, world: dict[str, Any]) -> None:
    workflow.claim(db, _p(db, "a1"), world["case"])
    with pytest.raises(Conflict):
        workflow.decide(db, _p(db, "a2"), world["case"], action="remove", ground="Rule 1 of the platform",
                        facts="It is false and spreading fast")
    with pytest.raises(Invalid) as exc:
        workflow.decide(db, _p(db, "a1"), world["case"], action="remove", ground="rule", facts="It is false, yes")
    assert exc.value.field == "ground"
    with pytest.raises(Invalid):
        workflow.decide(db, _p(db, "a1"), world["case"], action="obliterate", ground="Rule 1 of the platform",
                        facts="It is false and spreading fast")
    with pytest.raises(Forbidden):
        workflow.decide(db, _p(db, "cop"), world["case"], action="remove", ground="Rule 1 of the platform",
                        facts="It is false and spreading fast")


def test_referral_moves_the_case_to_the_other_organisation(db: Any, world: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        workflow.decide(db, _p(db, "a1"), world["case"], action="refer", ground="Outside our remit entirely",
                        facts="This is a fraud ring, police should look")
    workflow.decide(db, _p(db, "a1"), world["case"], action="refer", refer_to="police",
                    ground="Outside our remit entirely", facts="This is a fraud ring, police should look")
    with db.read() as s:
        case = s.get(Case, world["case"])
        assert case.state == "referred" and case.org_id == accounts.org_by_key(s, "police").id
    # Now the police agent may act, the platform agent may not.
    workflow.decide(db, _p(db, "cop"), world["case"], action="escalate_law_enforcement",
                    ground="Criminal law art. 266 (fraud)", facts="Opened an investigation file")
    with pytest.raises(Forbidden):
        workflow.claim(db, _p(db, "a1"), world["case"])


def test_appeal_is_decided_by_someone_else(db: Any, settings: Any, world: dict[str, Any]) -> None:
    _, token = workflow.decide(db, _p(db, "ann_reviewer"), world["case"], action="remove",
                               ground="Regulation art. 6 (false information)", facts="Repeats a refuted health claim")
    assert token
    a = workflow.appeal(db, settings, token, statement="This was a quote in a news report, not my claim")
    with pytest.raises(Conflict):
        workflow.appeal(db, settings, token, statement="Trying a second time around")
    with pytest.raises(Forbidden):
        workflow.decide_appeal(db, _p(db, "ann_reviewer"), a.id, outcome="upheld", reasons="I was right the first time")
    workflow.decide_appeal(db, _p(db, "bo_reviewer"), a.id, outcome="reversed",
                           reasons="It is reporting, not asserting")
    with db.read() as s:
        st = report_status(s, world["receipt"])
    assert st["outcome"]["action"] == "remove" and st["appeal"] == {"status": "decided", "outcome": "reversed"}
    assert "ann_reviewer" not in str(st) and "bo_reviewer" not in str(st)  # no staff names reach the reporter


def _rejected_history(db: Any, settings: Any, who: str, path: str) -> None:
    """Four reports by ``who`` on separate cases under ``path``, each decided "no violation"."""
    for i in range(4):
        _report(db, settings, f"complaint number {i} about nothing at all really", who=who,
                url=f"https://plat.example/{path}/{i}")
    with db.read() as s:
        cases = [c.id for c in s.execute(select(Case).where(Case.canonical_url.like(f"%/{path}/%"))).scalars()]
    for cid in cases:
        workflow.decide(db, _p(db, "a1"), cid, action="no_violation", ground="Community rules reviewed in full",
                        facts="Nothing in the post breaks a rule")


def test_rejected_reports_lower_reporter_trust(db: Any, settings: Any, world: dict[str, Any]) -> None:
    _rejected_history(db, settings, "9.9.9.9", "x")
    _report(db, settings, "yet another complaint from the same person, again", who="9.9.9.9",
            url="https://plat.example/x/new")
    with db.read() as s:
        case = s.execute(select(Case).where(Case.canonical_url.like("%/x/new"))).scalar_one()
    # 4 earlier reports, all rejected: Laplace rate (0 + 1) / (4 + 2), doubled.
    assert case.priority_explain["reporter_trust"]["value"] == 0.333
    with db.read() as s:  # the trust counters agree with the reports they summarise
        key = s.execute(select(Report.reporter_key).where(Report.url == "https://plat.example/x/new")).scalar_one()
        stats = s.get(ReporterStats, key)
        mine = list(s.execute(select(Report.rejected).where(Report.reporter_key == key)).scalars())
    assert (stats.reports, stats.rejected) == (len(mine), sum(mine)) == (5, 4)


def test_uncertain_first_ordering(db: Any, settings: Any, world: dict[str, Any]) -> None:
    _report(db, settings, "加微信领取彩金，百家乐稳赢，日赚千元", url="https://plat.example/g/1", category="gambling")
    _report(db, settings, "hmm not sure what this post is about", url="https://plat.example/g/2")
    with db.read() as s:
        cases = workflow.queue(s, _p(db, "ann_reviewer"), order="uncertain")
        assert len(cases) >= 2
        with pytest.raises(Invalid):
            workflow.queue(s, _p(db, "ann_reviewer"), order="random")


def test_due_soon_filter_agrees_with_due_state(db: Any, world: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    from qinglang.cases.sla import due_state

    now = datetime.now(UTC)
    with db.write() as s:
        case = s.get(Case, world["case"])
        case.due_at = now + timedelta(hours=10)  # rumor SLA 72 h: 10 h left is under a quarter
    with db.read() as s:
        listed = workflow.queue(s, _p(db, "ann_reviewer"), sla="due_soon", now=now)
        assert [c.id for c in listed] == [world["case"]]
        assert due_state(listed[0], now) == "due_soon"
    with db.write() as s:
        s.get(Case, world["case"]).due_at = now + timedelta(hours=30)  # type: ignore[union-attr]
    with db.read() as s:
        assert workflow.queue(s, _p(db, "ann_reviewer"), sla="due_soon", now=now) == []


def test_sor_export_api(client: Any, db: Any, staff: Any, world: dict[str, Any]) -> None:
    from qinglang.stats.sor import validate_statement

    workflow.decide(db, _p(db, "a1"), world["case"], action="restrict",
                    ground="Platform rule 4 (health misinformation)", facts="Repeats a refuted claim about salt water")
    rev = staff.user("exporter", "reviewer", org="cac")
    agent = staff.user("agent-x", "org_agent", org="plat")
    r = client.get("/v1/export/sor", headers={"Authorization": f"Bearer {rev}"})
    assert r.status_code == 200 and len(r.json()) == 1
    assert validate_statement(r.json()[0]) == []
    assert client.get("/v1/export/sor", headers={"Authorization": f"Bearer {agent}"}).status_code == 403
    assert client.get("/v1/export/sor?since=2999-01-01", headers={"Authorization": f"Bearer {rev}"}).json() == []


def test_case_reporters_and_trust_are_kept_per_arrival(db: Any, settings: Any, world: dict[str, Any]) -> None:
    _rejected_history(db, settings, "9.9.9.9", "y")  # a reporter whose 4 earlier reports were rejected: trust 0.333
    url = "https://plat.example/viral/1"
    # One transaction with a repeated reporter, then later arrivals: new, repeated, and the low-trust reporter.
    first = [intake.submit_report(db, settings, intake.ReportInput(category="rumor", text=t, url=url),
                                  client_key=who).report_id
             for t, who in (("A viral rumour about tap water", "5.5.5.5"), ("tap water rumour again", "5.5.5.5"),
                            ("someone else saw it too", "6.6.6.6"))]
    pipeline.process_reports(db, first)
    for text, who in (("yet another copy", "7.7.7.7"), ("copy from five again", "5.5.5.5"),
                      ("low trust reporter", "9.9.9.9")):
        _report(db, settings, text, url=url, who=who)
    with db.read() as s:
        case = s.execute(select(Case).where(Case.canonical_url == url)).scalar_one()
        assert case.report_count == 6 and case.reporter_count == 4
        assert case.trust_sum == pytest.approx(3 * 1.0 + 1 / 3, abs=1e-3)
        # With no decisions in between, the running sum equals the full computation over all the reporters.
        assert case.priority_explain["reporter_trust"]["value"] == pipeline._trust(s, case.id) == 0.833
    with db.write() as s:  # a case from before the sum was kept: computed in full at its next report
        legacy = s.get(Case, case.id)
        legacy.trust_sum, legacy.reporter_count = None, 0
    _report(db, settings, "and a fifth person", url=url, who="8.8.8.8")
    with db.read() as s:
        case = s.get(Case, case.id)
        assert case.reporter_count == 5 and case.trust_sum == pytest.approx(4 * 1.0 + 1 / 3, abs=5e-3)
        assert case.priority_explain["reporter_trust"]["value"] == pipeline._trust(s, case.id)


def test_label_names_a_published_debunk_and_links_the_case(db: Any, settings: Any, staff: Any,
                                                           world: dict[str, Any]) -> None:
    from qinglang.debunks import registry

    staff.user("fc_expert", "expert", org="cac")
    with db.write() as s:
        expert = _p(db, "fc_expert")
        draft = registry.create(s, expert, registry.DebunkInput(
            claim="Gargling salt water cures the virus", verdict="false", summary="It does not",
            explanation="No evidence.", lang="en"), org_id=expert.org_id, status="draft").id
        published = registry.create(s, expert, registry.DebunkInput(
            claim="Gargling salt water cures the virus", verdict="false", summary="It does not",
            explanation="No evidence.", lang="en"), org_id=expert.org_id, status="published").id
    with db.read() as s:
        assert s.get(Case, world["case"]).debunk_id is None  # the matcher had no debunk for it
    reasons = {"ground": "Platform rule 4 (health misinformation)", "facts": "Repeats a refuted cure claim"}
    with pytest.raises(Invalid) as exc:
        workflow.decide(db, _p(db, "a1"), world["case"], action="label", **reasons)
    assert exc.value.field == "debunk_id"
    for bad in (draft, 987_654):  # a draft is not public; an unknown id is not a debunk at all
        with pytest.raises(Invalid) as exc:
            workflow.decide(db, _p(db, "a1"), world["case"], action="label", debunk_id=bad, **reasons)
        assert exc.value.field == "debunk_id"
    with db.write() as s:  # as if the matcher had linked a debunk that was withdrawn since
        s.get(Case, world["case"]).debunk_id = draft
    with pytest.raises(Invalid) as exc:
        workflow.decide(db, _p(db, "a1"), world["case"], action="label", **reasons)
    assert exc.value.field == "debunk_id" and "not a published debunk" in exc.value.message
    with db.read() as s:  # every refused decision left the case as it was
        assert s.get(Case, world["case"]).state not in ("actioned", "no_violation")
        assert not s.execute(select(Decision).where(Decision.case_id == world["case"])).scalars().all()
    workflow.decide(db, _p(db, "a1"), world["case"], action="label", debunk_id=published, **reasons)
    with db.read() as s:
        assert s.get(Case, world["case"]).debunk_id == published
        assert report_status(s, world["receipt"])["debunk"]["id"] == published  # the reporter sees it
