"""End-to-end flows in Debian's Chromium against a real uvicorn server and a temp SQLite database.

Reports are processed by calling the pipeline function the job worker calls (the worker is off, so nothing races).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from qinglang import accounts
from qinglang.auth.policy import Principal
from qinglang.debunks import registry
from qinglang.settings import Settings
from qinglang.store.db import Database
from qinglang.store.migrate import upgrade
from qinglang.store.models import Case, Report, User

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PASSWORD = "reviewer password 1"
PAYLOAD = '<script>alert("xss")</script><img src=x onerror=alert(2)>'
CLAIM = "Drinking hot lemon water kills the coronavirus"


@dataclass
class Site:
    base: str
    db: Database


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {CHROMIUM} (Debian package chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    from qinglang.api.app import create_app
    from qinglang.web.liveserver import live_server

    tmp = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{tmp / 'qinglang.db'}"
    upgrade(url)
    db = Database(url)
    from qinglang.match.store_source import set_index_dir

    set_index_dir(db, tmp / "index")  # never the default data directory's index
    with db.write() as s:
        accounts.create_org(s, actor="test", key="cac", kind="regulator", name_zh="网信办（测试）",
                            name_en="Regulator (test)")
        accounts.create_org(s, actor="test", key="fc", kind="fact_checker", name_zh="辟谣中心（测试）",
                            name_en="Fact-check centre (test)")
        accounts.create_user(s, actor="test", username="rev", role="reviewer", password=PASSWORD, org="cac")
        writer = accounts.create_user(s, actor="test", username="writer", role="expert", password=PASSWORD,
                                      org="fc")
        p = Principal.of(writer, via="cli")
        fc = accounts.org_by_key(s, "fc").id
        registry.create(s, p, registry.DebunkInput(
            claim=CLAIM, verdict="false", summary="Lemon water does not kill viruses in the body.",
            explanation="No drink kills a virus inside the body.", lang="en",
            variants=["Hot water with lemon cures covid", "热柠檬水可以杀死新冠病毒"],
            sources=[{"url": "https://example.org/who", "title": "WHO myth busters"}]), org_id=fc,
            status="published")
        registry.create(s, p, registry.DebunkInput(
            claim=PAYLOAD, verdict="misleading", summary=f"summary {PAYLOAD}", explanation=PAYLOAD, lang="en"),
            org_id=fc, status="published")
    settings = Settings(data_dir=tmp, database_url=url, secret_key="browser-tests-" + "k" * 40, rate_limit=0,
                        jobs="off")
    app = create_app(settings, start_worker=False)
    with live_server(app) as base:
        yield Site(base, db)
    db.dispose()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """Factory for pages in fresh contexts; no JavaScript dialog may fire and nothing may break the CSP."""
    contexts: list[Any] = []
    dialogs: list[str] = []
    csp_violations: list[str] = []

    def make(**kw: Any) -> Any:
        kw.setdefault("locale", "en-US")
        ctx = browser.new_context(**kw)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15000)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert dialogs == [], f"a script ran: {dialogs}"
    assert csp_violations == [], csp_violations


def submit_report(site: Site, page: Any, *, category: str, text: str, url: str = "") -> str:
    page.goto(site.base + "/report?lang=en")
    page.locator(f"input[name=category][value={category}]").check()
    if url:
        page.get_by_label("Link", exact=True).fill(url)
    page.get_by_label("The content's text", exact=True).fill(text)
    page.get_by_role("button", name="Submit report").click()
    page.wait_for_url("**/track?receipt=*")
    return parse_qs(urlparse(page.url).query)["receipt"][0]


def process(site: Site, receipt: str) -> Report:
    from qinglang.cases.pipeline import process_reports

    with site.db.read() as s:
        report = s.execute(select(Report).where(Report.receipt == receipt)).scalar_one()
    assert process_reports(site.db, [report.id]) == 1
    with site.db.read() as s:
        return s.execute(select(Report).where(Report.receipt == receipt)).scalar_one()


def test_report_then_receipt_then_track(site: Site, open_page: Any) -> None:
    page = open_page()
    receipt = submit_report(site, page, category="fraud", url="https://scam.example/refund",
                            text="Your parcel is lost, call 13800138000 for a refund of 300 yuan")
    assert page.locator("#receipt").inner_text() == receipt
    assert page.locator("#status-label").inner_text() == "Received"
    report = process(site, receipt)
    assert report.case_id is not None
    page.goto(f"{site.base}/track?receipt={receipt}")
    assert page.locator("#status-label").inner_text() in ("With the responsible organisation", "Processing")
    assert "Regulator (test)" in page.locator("#status").inner_text()


def test_check_a_message_finds_the_debunk(site: Site, open_page: Any) -> None:
    page = open_page()
    page.goto(site.base + "/check?lang=en")
    page.get_by_label("Text or link to check", exact=True).fill("Is it true that hot water with lemon cures covid?")
    page.wait_for_function("window.htmx !== undefined")
    page.evaluate("window.__same_document = true")
    page.get_by_role("button", name="Check").click()
    first = page.locator("#results article").first
    first.wait_for()
    # htmx swapped the results into the same document (no reload) and pushed the URL.
    assert page.evaluate("window.__same_document") is True
    assert "/check?text=" in page.url
    assert CLAIM in first.inner_text()
    assert first.locator(".band").inner_text() in ("Match", "Possibly related")
    first.get_by_role("link", name=CLAIM).click()
    page.wait_for_url("**/debunks/*")
    assert page.locator("h1").inner_text() == CLAIM
    ld = page.locator('script[type="application/ld+json"]').inner_text()
    assert '"ClaimReview"' in ld


def test_reviewer_acts_on_the_top_case_and_the_reporter_sees_the_outcome(site: Site, open_page: Any) -> None:
    reporter = open_page()
    receipt = submit_report(site, reporter, category="fraud", text="Police notice: your account is frozen, "
                            "transfer your savings to safe account 6222020000000000 now")
    process(site, receipt)

    staff = open_page()
    staff.goto(site.base + "/console")
    staff.wait_for_url(lambda u: "/console/login?next=" in u)
    staff.get_by_label("Username", exact=True).fill("rev")
    staff.get_by_label("Password", exact=True).fill(PASSWORD)
    staff.get_by_role("button", name="Log in").click()
    staff.wait_for_url(site.base + "/console")
    from qinglang.cases import workflow

    with site.db.read() as s:
        rev = s.execute(select(User).where(User.username == "rev")).scalar_one()
        top = workflow.queue(s, Principal.of(rev, via="session"), limit=1)[0]
    first_link = staff.locator("#queue tbody tr").first.get_by_role("link")
    assert first_link.inner_text() == f"#{top.id}"
    first_link.click()
    staff.wait_for_url(f"**/console/cases/{top.id}")
    staff.get_by_role("button", name="Claim this case").click()
    assert "Claimed." in staff.locator(".notice.ok").inner_text()
    staff.get_by_label("Action", exact=True).select_option("remove")
    staff.get_by_label("Legal or policy ground", exact=True).fill("Anti-Telecom Fraud Law, article 25")
    staff.get_by_label("Facts and circumstances", exact=True).fill("The post impersonates the police.")
    staff.get_by_role("button", name="Submit decision").click()
    assert "Decision recorded" in staff.locator(".notice.ok").inner_text()
    assert staff.locator("#case-state").inner_text() == "Actioned"

    with site.db.read() as s:
        receipts = list(s.execute(select(Report.receipt).where(Report.case_id == top.id)).scalars())
        assert s.get(Case, top.id).decided_at is not None  # type: ignore[union-attr]
    reporter.goto(f"{site.base}/track?receipt={receipts[0]}")
    outcome = reporter.locator("#outcome").inner_text()
    assert "Outcome: Remove" in outcome and "Anti-Telecom Fraud Law, article 25" in outcome
    assert reporter.locator("#status-label").inner_text() == "Decided"


def test_switching_language_persists(site: Site, open_page: Any) -> None:
    page = open_page()
    page.goto(site.base + "/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="中文").click()
    page.wait_for_url("**/?lang=zh")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_role("link", name="辟谣库").first.click()
    page.wait_for_url("**/debunks")
    assert page.locator("h1").inner_text() == "辟谣库"
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Debunk library"


def test_script_payloads_show_as_text_and_never_run(site: Site, open_page: Any) -> None:
    page = open_page()
    page.goto(site.base + "/debunks?lang=en")
    card = page.locator("article", has_text="alert(")
    assert PAYLOAD in card.first.inner_text()
    card.first.get_by_role("link").click()
    page.wait_for_url("**/debunks/*")
    assert page.locator("h1").inner_text() == PAYLOAD
    assert page.locator("img[src=x]").count() == 0
    receipt = submit_report(site, page, category="rumor", text=PAYLOAD)
    report = process(site, receipt)
    staff = open_page()
    staff.goto(site.base + "/console/login?lang=en")
    staff.get_by_label("Username", exact=True).fill("rev")
    staff.get_by_label("Password", exact=True).fill(PASSWORD)
    staff.get_by_role("button", name="Log in").click()
    staff.wait_for_url(site.base + "/console")
    staff.goto(f"{site.base}/console/cases/{report.case_id}")
    assert PAYLOAD in staff.locator(".reports").inner_text()
    assert staff.locator("img[src=x]").count() == 0
    # open_page's teardown fails the test if any alert() fired


def test_forms_work_without_javascript(site: Site, open_page: Any) -> None:
    page = open_page(java_script_enabled=False)
    page.goto(site.base + "/check?lang=en")
    page.get_by_label("Text or link to check", exact=True).fill("hot lemon water kills the coronavirus")
    page.get_by_role("button", name="Check").click()
    page.wait_for_url("**/check?text=*")
    assert CLAIM in page.locator("#results").inner_text()
    receipt = submit_report(site, page, category="gambling", url="https://casino.example/",
                            text="Online casino, deposit now for a 200% bonus")
    assert page.locator("#receipt").inner_text() == receipt


def test_keyboard_and_phone_width(site: Site, open_page: Any) -> None:
    page = open_page(viewport={"width": 375, "height": 740}, is_mobile=True)
    for path in ("/", "/debunks", "/report", "/check", "/track", "/transparency"):
        page.goto(site.base + path + "?lang=zh")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways at 375 px by {overflow}px"
    page.goto(site.base + "/report")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith("#main"), timeout=5000)  # the jump can land after the key press
