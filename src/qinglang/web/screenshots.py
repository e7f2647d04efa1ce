"""`make screenshots`: PNGs of the main pages, from a temporary database loaded with the demo data.

Usage: python -m qinglang.web.screenshots docs/screenshots
Drives Debian's Chromium (/usr/bin/chromium) through Playwright; never downloads a browser. Never points at a
real deployment: it always builds its own temporary database.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _demo_targets(db: Any) -> dict[str, Any]:
    """Real records to show: a debunk with variants, a demo report's receipt, the top open case."""
    from qinglang.debunks import registry
    from qinglang.store.models import Case, Debunk, Report

    with db.read() as s:
        debunks = s.execute(select(Debunk).where(Debunk.status == "published", Debunk.lang == "zh")
                            .order_by(Debunk.id)).scalars().all()
        with_variants = next((d for d in debunks if registry.current(registry.get(s, d.id)).variants), debunks[0])
        v = registry.current(registry.get(s, with_variants.id))
        decided = s.execute(select(Report.receipt).join(Case, Case.id == Report.case_id)
                            .where(Case.decided_at.is_not(None)).order_by(Report.id)).scalar()
        receipt = decided or s.execute(select(Report.receipt).order_by(Report.id)).scalar()
        case_id = s.execute(select(Case.id).where(Case.decided_at.is_(None))
                            .order_by(Case.priority.desc(), Case.id)).scalar()
    return {"debunk_id": with_variants.id, "check_text": (v.variants or [v.claim])[0], "receipt": receipt,
            "case_id": case_id}


def _credential(data_dir: Path, username: str) -> str:
    for line in (data_dir / "demo-credentials.txt").read_text(encoding="utf-8").splitlines():
        name, _, password = line.partition("\t")
        if name == username:
            return password
    raise SystemExit(f"no demo password for {username!r}")


def take(out_dir: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from qinglang.api.app import create_app
    from qinglang.demo import load_demo
    from qinglang.match.store_source import set_index_dir
    from qinglang.settings import Settings
    from qinglang.store.db import Database
    from qinglang.store.migrate import upgrade
    from qinglang.web.liveserver import live_server

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium package")
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="qinglang-shots-") as tmp:
        data_dir = Path(tmp)
        url = f"sqlite:///{data_dir / 'qinglang.db'}"
        upgrade(url)
        settings = Settings.model_validate({"data_dir": data_dir, "database_url": url, "rate_limit": 0,
                                            "secret_key": "screenshots-" + "k" * 40, "jobs": "off"})
        db = Database(url)
        # The claim index must live with this temp database, not in the default data directory.
        set_index_dir(db, data_dir / "index")
        load_demo(db, settings)
        target = _demo_targets(db)
        app = create_app(settings, start_worker=False)
        with live_server(app) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

            def shot(page: Any, name: str, path: str) -> None:
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                file = out_dir / f"{name}.png"
                page.screenshot(path=str(file), full_page=True)
                saved.append(file)

            desk = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN", device_scale_factor=1)
            page = desk.new_page()
            shot(page, "home", "/?lang=zh")
            shot(page, "debunk", f"/debunks/{target['debunk_id']}")
            page.goto(base + "/check")
            page.fill("#text", target["check_text"])
            page.click("form.panel button[type=submit]")
            page.wait_for_selector("#results h2")
            file = out_dir / "check-result.png"
            page.screenshot(path=str(file), full_page=True)
            saved.append(file)
            shot(page, "report-form", "/report")
            if target["receipt"]:
                shot(page, "track", f"/track?receipt={target['receipt']}")
            shot(page, "transparency", "/transparency")
            page.goto(base + "/console/login")
            page.fill("#username", "reviewer")
            page.fill("#password", _credential(data_dir, "reviewer"))
            page.click("form button[type=submit]")
            page.wait_for_url(base + "/console")
            shot(page, "console-queue", "/console")
            if target["case_id"]:
                shot(page, "console-case", f"/console/cases/{target['case_id']}")
            shot(page, "home-en", "/?lang=en")
            desk.close()

            phone = browser.new_context(viewport={"width": 375, "height": 780}, locale="zh-CN",
                                        device_scale_factor=1, is_mobile=True)
            page = phone.new_page()
            shot(page, "phone-home", "/?lang=zh")
            phone.close()
            browser.close()
        db.dispose()
    return saved


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/screenshots")
    for f in take(out):
        print(f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
