"""Console through the app in-process: login cookie, CSRF, the debunk review step, admin tokens and blocklists."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from qinglang.store.db import Database
from qinglang.store.models import ApiToken, AuditEvent, BlocklistEntry, Debunk

PASSWORD = "correct horse"


def login(client: Any, username: str) -> str:
    """Log in through the form; returns the CSRF token the console pages carry."""
    client.cookies.clear()
    r = client.post("/console/login", data={"username": username, "password": PASSWORD, "next": "/console"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/console")  # the queue, or the debunk editor for experts
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m, page.text
    return m.group(1)


def test_login_cookie_flags_and_bad_password(client: Any, staff: Any) -> None:
    staff.user("rev", "reviewer", password=PASSWORD)
    r = client.post("/console/login?lang=en", data={"username": "rev", "password": "wrong password"})
    assert r.status_code == 401 and "Wrong username or password" in r.text
    r = client.post("/console/login", data={"username": "rev", "password": PASSWORD, "next": "//evil.example"},
                    follow_redirects=False)
    assert r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert "qinglang_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie


def test_console_requires_login_and_csrf(client: Any, staff: Any) -> None:
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")
    staff.user("rev", "reviewer", password=PASSWORD)
    csrf = login(client, "rev")
    assert client.get("/console").status_code == 200
    bad = client.post("/console/admin/blocklists", data={"csrf": "forged", "kind": "phone", "value": "123"})
    assert bad.status_code == 403
    ok = client.post("/console/admin/blocklists", data={"csrf": csrf, "kind": "phone", "value": "13800138000"},
                     follow_redirects=False)
    assert ok.status_code == 303


def test_debunk_editor_needs_a_second_person_to_publish(client: Any, db: Database, staff: Any) -> None:
    staff.org("fc", kind="fact_checker")
    staff.org("med", kind="expert_panel")
    staff.user("author", "expert", org="fc", password=PASSWORD)
    staff.user("other", "expert", org="med", password=PASSWORD)
    csrf = login(client, "author")
    r = client.post("/console/debunks/new", data={
        "csrf": csrf, "claim": "5G towers spread viruses", "verdict": "false", "summary": "Radio waves do not "
        "carry viruses.", "lang": "en", "variants": "5G causes covid\n", "topics": ["health"],
        "sources": "https://example.org/5g | WHO | World Health Organization"}, follow_redirects=False)
    assert r.status_code == 303
    did = int(r.headers["location"].split("/")[3].split("?")[0])
    assert client.post(f"/console/debunks/{did}/submit", data={"csrf": csrf}).status_code == 200
    # The author may not review their own debunk.
    assert client.post(f"/console/debunks/{did}/review", data={"csrf": csrf, "decision": "approve"}).status_code == 403
    assert client.get(f"/debunks/{did}").status_code == 200  # staff preview while logged in
    client.cookies.clear()
    assert client.get(f"/debunks/{did}").status_code == 404  # not public yet
    csrf2 = login(client, "other")
    r = client.post(f"/console/debunks/{did}/review", data={"csrf": csrf2, "decision": "approve"})
    assert r.status_code == 200
    with db.read() as s:
        d = s.get(Debunk, did)
        assert d is not None and d.status == "published" and d.versions[-1].sources[0]["title"] == "WHO"
    client.cookies.clear()
    assert "5G towers spread viruses" in client.get(f"/debunks/{did}").text


def test_admin_token_is_shown_once_and_blocklist_changes_are_audited(client: Any, db: Database,
                                                                      staff: Any) -> None:
    staff.user("root", "admin", password=PASSWORD)
    csrf = login(client, "root")
    r = client.post("/console/admin/tokens", data={"csrf": csrf, "username": "root", "name": "ci"})
    token = re.search(r'<code id="new-token">([^<]+)</code>', r.text)
    assert r.status_code == 200 and token
    with db.read() as s:
        row = s.execute(select(ApiToken).where(ApiToken.name == "ci")).scalar_one()
    assert token.group(1).startswith(row.prefix)
    listing = client.get("/console/admin/tokens").text
    assert token.group(1) not in listing
    assert f"{row.prefix}…" in listing
    assert client.get("/v1/debunks", headers={"authorization": f"Bearer {token.group(1)}"}).status_code == 200

    client.post("/console/admin/blocklists", data={"csrf": csrf, "kind": "domain", "value": "Scam-Pay.Top",
                                                   "reason": "phishing"})
    with db.read() as s:
        entry = s.execute(select(BlocklistEntry)).scalar_one()
    assert entry.value == "scam-pay.top"  # canonicalised like API and CLI entries, so the pipeline matches it
    dup = client.post("/console/admin/blocklists", data={"csrf": csrf, "kind": "domain", "value": "scam-pay.top"})
    assert dup.status_code == 409
    client.post("/console/admin/blocklists", data={"csrf": csrf, "op": "remove", "row_id": str(entry.id)})
    with db.read() as s:
        assert s.execute(select(BlocklistEntry)).first() is None
        actions = list(s.execute(select(AuditEvent.action).where(AuditEvent.object_type == "blocklist"))
                       .scalars())
    assert actions == ["blocklist.add", "blocklist.remove"]

    client.post("/console/admin/hashbanks", data={"csrf": csrf, "op": "bank", "name": "ncmec-test"})
    bad = client.post("/console/admin/hashbanks", data={"csrf": csrf, "bank_id": "1", "signal_type": "md5",
                                                        "value": "xyz"})
    assert bad.status_code == 422
    ok = client.post("/console/admin/hashbanks", data={"csrf": csrf, "bank_id": "1", "signal_type": "md5",
                                                       "value": "d41d8cd98f00b204e9800998ecf8427e"})
    assert ok.status_code == 200 and "d41d8cd98f00b204e9800998ecf8427e" in ok.text


def test_content_owner_appeals_and_a_reviewer_decides_it(client: Any, db: Database, staff: Any) -> None:
    from qinglang.auth.policy import Principal
    from qinglang.cases import workflow
    from qinglang.cases.pipeline import process_reports
    from qinglang.store.models import Appeal, Report, User

    staff.org("cac", kind="regulator")
    staff.user("rev", "reviewer", org="cac", password=PASSWORD)
    staff.user("rev2", "reviewer", org="cac", password=PASSWORD)
    r = client.post("/report", data={"category": "hate", "text": "A post insulting a named neighbour again"},
                    follow_redirects=False)
    receipt = r.headers["location"].split("receipt=")[1].split("&")[0]
    with db.read() as s:
        report = s.execute(select(Report).where(Report.receipt == receipt)).scalar_one()
        rev = Principal.of(s.execute(select(User).where(User.username == "rev")).scalar_one(), via="cli")
    process_reports(db, [report.id])
    with db.read() as s:
        case_id = s.execute(select(Report.case_id).where(Report.id == report.id)).scalar_one()
    _, token = workflow.decide(db, rev, case_id, action="remove", ground="Platform rule 4.2 on abuse",
                               facts="Repeated insults aimed at a private person.")
    assert client.post("/appeal?lang=en", data={"token": "wrong", "statement": "x" * 20}).status_code == 404
    ok = client.post("/appeal", data={"token": token, "statement": "It was satire, not an insult."},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/appeal?done=1"
    again = client.post("/appeal?lang=en", data={"token": token, "statement": "It was satire, not an insult."})
    assert again.status_code == 409
    track = client.get(f"/track?receipt={receipt}&lang=en").text
    assert "The content owner appealed" in track

    csrf = login(client, "rev")
    page = client.get(f"/console/cases/{case_id}?lang=en").text
    assert "It was satire, not an insult." in page
    with db.read() as s:
        appeal_id = s.execute(select(Appeal.id)).scalar_one()
    form = {"outcome": "reversed", "reasons": "Satire of a public figure, not a private person."}
    same = client.post(f"/console/appeals/{appeal_id}/decide?lang=en", data={"csrf": csrf, **form})
    assert same.status_code == 403 and "someone other than the original decision-maker" in same.text
    csrf = login(client, "rev2")
    r = client.post(f"/console/appeals/{appeal_id}/decide", data={"csrf": csrf, **form})
    assert r.status_code == 200 and "申诉决定已记录" in r.text
    with db.read() as s:
        appeal = s.get(Appeal, appeal_id)
        assert appeal is not None and appeal.outcome == "reversed"


def test_org_agent_queue_is_scoped_to_its_organisation(client: Any, db: Database, staff: Any) -> None:
    from qinglang.cases.pipeline import process_reports
    from qinglang.cases.routing import add_rule
    from qinglang.store.models import Report

    staff.org("cac", kind="regulator")
    staff.org("huabo", kind="platform", domains=("huabo.example",))
    with db.write() as s:
        add_rule(s, actor="test", org="huabo", domain="huabo.example")
    staff.user("agent", "org_agent", org="huabo", password=PASSWORD)
    receipts = []
    for url in ("https://huabo.example/p/1", "https://elsewhere.example/p/2"):
        r = client.post("/report", data={"category": "fraud", "url": url, "text": f"Send a deposit first {url}"},
                        follow_redirects=False)
        receipts.append(r.headers["location"].split("receipt=")[1].split("&")[0])
    with db.read() as s:
        ids = list(s.execute(select(Report.id).where(Report.receipt.in_(receipts))).scalars())
    process_reports(db, ids)
    with db.read() as s:
        mine, other = (s.execute(select(Report.case_id).where(Report.receipt == rc)).scalar_one() for rc in receipts)
    assert mine != other
    login(client, "agent")
    queue = client.get("/console?lang=en").text
    assert f'href="/console/cases/{mine}"' in queue and f'href="/console/cases/{other}"' not in queue
    assert client.get(f"/console/cases/{mine}").status_code == 200
    assert client.get(f"/console/cases/{other}").status_code == 403


def test_claiming_is_race_free_between_reviewers(client: Any, db: Database, staff: Any) -> None:
    from qinglang.cases.pipeline import process_reports
    from qinglang.store.models import Case, Report, User

    staff.org("cac", kind="regulator")
    staff.user("rev1", "reviewer", org="cac", password=PASSWORD)
    staff.user("rev2", "reviewer", org="cac", password=PASSWORD)
    client.post("/report", data={"category": "gambling", "text": "Deposit 100 get 300 at the online casino"})
    with db.read() as s:
        rid = s.execute(select(Report.id)).scalar_one()
    process_reports(db, [rid])
    with db.read() as s:
        case_id = s.execute(select(Report.case_id)).scalar_one()
    csrf1 = login(client, "rev1")
    assert f'action="/console/cases/{case_id}/claim"' in client.get("/console").text
    r = client.post(f"/console/cases/{case_id}/claim", data={"csrf": csrf1}, follow_redirects=False)
    assert r.status_code == 303
    csrf2 = login(client, "rev2")
    taken = client.post(f"/console/cases/{case_id}/claim?lang=en", data={"csrf": csrf2})
    assert taken.status_code == 409 and "Claimed by rev1" in taken.text
    with db.read() as s:
        case = s.get(Case, case_id)
        rev1 = s.execute(select(User.id).where(User.username == "rev1")).scalar_one()
        assert case is not None and case.claimed_by == rev1


def test_correcting_then_withdrawing_a_published_debunk(client: Any, db: Database, staff: Any) -> None:
    from qinglang.auth.policy import Principal
    from qinglang.debunks import registry
    from qinglang.store.models import User

    staff.org("fc", kind="fact_checker")
    staff.user("ed", "expert", org="fc", password=PASSWORD)
    with db.write() as s:
        user = s.execute(select(User).where(User.username == "ed")).scalar_one()
        did = registry.create(s, Principal.of(user, via="cli"), registry.DebunkInput(
            claim="Eating carrots lets you see in the dark", verdict="false", summary="They do not.",
            explanation="", lang="en"), org_id=user.org_id or 0, status="published").id
    csrf = login(client, "ed")
    form = {"csrf": csrf, "claim": "Eating carrots lets you see in the dark", "verdict": "misleading",
            "summary": "Vitamin A helps night vision only when you lack it.", "lang": "en"}
    missing_note = client.post(f"/console/debunks/{did}?lang=en", data=form)
    assert missing_note.status_code == 422 and "public note" in missing_note.text
    client.post(f"/console/debunks/{did}", data={**form, "note": "Verdict refined after review"})
    client.cookies.clear()
    page = client.get(f"/debunks/{did}?lang=en").text
    assert "Corrected" in page and "Verdict refined after review" in page and "Misleading" in page
    csrf = login(client, "ed")
    client.post(f"/console/debunks/{did}/withdraw", data={"csrf": csrf, "note": "Duplicate of another debunk"})
    client.cookies.clear()
    assert client.get(f"/debunks/{did}").status_code == 404


def test_case_page_and_api_suggest_debunks_when_none_is_linked(client: Any, db: Database, staff: Any) -> None:
    from qinglang.auth.policy import Principal
    from qinglang.cases.pipeline import process_reports
    from qinglang.debunks import registry
    from qinglang.jobs.worker import drain
    from qinglang.store.models import Case, Report, User

    staff.org("cac", kind="regulator")
    staff.org("fc", kind="fact_checker")
    token = staff.user("rev", "reviewer", org="cac", password=PASSWORD)
    watcher = staff.user("cm", "campaign_manager", org="cac")  # may read cases, not act on them
    staff.user("ex", "expert", org="fc")
    r = client.post("/report", data={"category": "rumor",
                                     "text": "Breathing hot vinegar steam kills the coronavirus, tell your parents"},
                    follow_redirects=False)
    receipt = r.headers["location"].split("receipt=")[1].split("&")[0]
    with db.read() as s:
        report = s.execute(select(Report).where(Report.receipt == receipt)).scalar_one()
    process_reports(db, [report.id])  # before the debunk exists: the case gets none
    with db.write() as s:
        expert = Principal.of(s.execute(select(User).where(User.username == "ex")).scalar_one(), via="cli")
        debunk = registry.create(s, expert, registry.DebunkInput(
            claim="Vinegar steam kills the coronavirus <script>alert(1)</script>", verdict="false",
            summary="It does not", explanation="No evidence.", lang="en"), org_id=expert.org_id, status="published").id
        case_id = s.execute(select(Report.case_id).where(Report.id == report.id)).scalar_one()
        assert s.get(Case, case_id).debunk_id is None
    drain(db)  # the publish's index job: the worker applies it to the claim index
    api = client.get(f"/v1/cases/{case_id}", headers={"Authorization": f"Bearer {token}"}).json()
    assert [h["debunk_id"] for h in api["suggested_debunks"]] == [debunk]
    assert api["suggested_debunks"][0]["band"] in ("match", "possible") and api["suggested_debunks"][0]["explanation"]
    assert "suggested_debunks" not in client.get(f"/v1/cases/{case_id}",
                                                 headers={"Authorization": f"Bearer {watcher}"}).json()
    bad = client.get(f"/v1/cases/{case_id}?lang=fr", headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "lang"
    csrf = login(client, "rev")
    page = client.get(f"/console/cases/{case_id}?lang=en").text
    assert 'id="suggested"' in page and f"No. {debunk}" in page and f'href="/debunks/{debunk}"' in page
    assert f'<option value="{debunk}">' in page  # offered in the label form's debunk field
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    done = client.post(f"/console/cases/{case_id}/decide", data={
        "csrf": csrf, "action": "label", "ground": "Platform rule 4 (health misinformation)",
        "facts": "Repeats the refuted vinegar claim", "debunk_id": str(debunk)}, follow_redirects=False)
    assert done.status_code == 303
    with db.read() as s:
        assert s.get(Case, case_id).debunk_id == debunk
    assert 'id="suggested"' not in client.get(f"/console/cases/{case_id}?lang=en").text  # linked now
    client.cookies.clear()
    assert "suggested_debunks" not in client.get(f"/v1/cases/{case_id}",
                                                 headers={"Authorization": f"Bearer {token}"}).json()
