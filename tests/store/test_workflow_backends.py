"""The report → case → decision → appeal path on both SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from qinglang import accounts, audit
from qinglang.auth.policy import Principal
from qinglang.cases import intake, workflow
from qinglang.cases.routing import add_rule
from qinglang.cases.status import report_status
from qinglang.jobs.worker import drain
from qinglang.settings import Settings
from qinglang.store.db import Database
from qinglang.store.models import Case


def test_full_path(any_db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=any_db.url, secret_key="s" * 48, rate_limit=0)
    with any_db.write() as s:
        accounts.create_org(s, actor="t", key="cac", kind="regulator", name_zh="网信办", name_en="Regulator")
        accounts.create_org(s, actor="t", key="plat", kind="platform", name_zh="平台", name_en="Platform",
                            supervisor="cac")
        add_rule(s, actor="t", org="plat", domain="plat.example")
        agent = accounts.create_user(s, actor="t", username="agent", role="org_agent", org="plat", password=None)
        rev = accounts.create_user(s, actor="t", username="rev", role="reviewer", org="cac", password=None)
    receipts = [intake.submit_report(any_db, settings, intake.ReportInput(
        category="rumor", url="https://plat.example/p/7?utm_medium=share", text=text), client_key=ip).receipt
        for text, ip in (("Eating garlic prevents infection", "1.1.1.1"), ("吃大蒜能预防感染", "2.2.2.2"))]
    drain(any_db)
    with any_db.read() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.reporter_count == 2 and case.state == "routed"
    _, token = workflow.decide(any_db, Principal.of(agent, via="cli"), case.id, action="restrict",
                               ground="Platform rule 4: health misinformation", facts="Claims garlic prevents it")
    assert token is not None
    a = workflow.appeal(any_db, settings, token, statement="Garlic is healthy, this is my opinion")
    workflow.decide_appeal(any_db, Principal.of(rev, via="cli"), a.id, outcome="upheld",
                           reasons="Presented as medical fact, not opinion")
    with any_db.read() as s:
        for r in receipts:
            st = report_status(s, r)
            assert st["outcome"]["action"] == "restrict" and st["appeal"]["outcome"] == "upheld"
        assert audit.verify(s).ok
