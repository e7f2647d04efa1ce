"""Reviewers' decisions become labelled examples for the category model."""

from __future__ import annotations

from typing import Any

from qinglang import accounts
from qinglang.auth.policy import Principal
from qinglang.cases import intake, pipeline, training, workflow


def test_decisions_become_examples(db: Any, staff: Any, settings: Any) -> None:
    staff.org("cac", kind="regulator")
    staff.user("rev", "reviewer", org="cac")
    with db.read() as s:
        rev = Principal.of(accounts.user_by_name(s, "rev"), via="cli")
    ids = []
    for text, cat in (("澳门线上赌场，充值送彩金", "gambling"), ("just a normal cooking video", "porn"),
                      ("pending report text here", "rumor")):
        r = intake.submit_report(db, settings, intake.ReportInput(category=cat, text=text), client_key="x")
        ids.append(r.report_id)
    pipeline.process_reports(db, ids)
    workflow.decide(db, rev, 1, action="remove", ground="Gambling promotion is prohibited",
                    facts="Advertises an online casino with bonuses")
    workflow.decide(db, rev, 2, action="no_violation", ground="Reviewed against the porn policy",
                    facts="A cooking video with nothing explicit")
    with db.read() as s:
        examples = sorted(training.decided_examples(s))
    assert examples == [((), "just a normal cooking video"), (("gambling",), "澳门线上赌场，充值送彩金")]


def test_cli_train_from_db(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, QINGLANG_DATA_DIR=str(tmp_path), QINGLANG_DATABASE_URL=f"sqlite:///{tmp_path}/q.db")
    ql = [sys.executable, "-m", "qinglang.cli"]
    subprocess.run(ql + ["db", "upgrade"], env=env, check=True, capture_output=True)
    p = subprocess.run(ql + ["triage", "train", "--from-db", "--out", str(tmp_path / "model")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "0 labelled text(s) from staff decisions" in p.stdout and "wrote" in p.stdout
