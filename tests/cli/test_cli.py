"""The CLI as a user runs it: a real subprocess with QINGLANG_DATABASE_URL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

QL = [sys.executable, "-m", "qinglang.cli"]


def run(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(QL + args, env=env, capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed: {p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e.update({"QINGLANG_DATA_DIR": str(tmp_path), "QINGLANG_DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}",
              "COLUMNS": "200"})
    return e


def test_cli_admin_commands_and_audit_verify_detects_tampering(env: dict[str, str], tmp_path: Path) -> None:
    run(["db", "upgrade"], env)
    run(["org", "add", "plat", "--kind", "platform", "--name-zh", "平台", "--name-en", "Platform",
         "--domains", "plat.example"], env)
    run(["user", "add", "alice", "--role", "org_agent", "--org", "plat", "--password", "s3cret-pass"], env)
    token = run(["token", "create", "alice", "--name", "ci"], env).stdout.strip()
    assert token.startswith("qlt_") and len(token) > 30
    assert "intact" in run(["audit", "verify"], env).stdout
    con = sqlite3.connect(tmp_path / "q.db")
    con.execute("UPDATE audit_events SET summary = '{\"key\": \"evil\"}' WHERE id = 1")
    con.commit()
    con.close()
    p = run(["audit", "verify"], env, check=False)
    assert p.returncode == 1 and "broken at event 1" in p.stderr


def test_cli_errors_are_one_line_and_nonzero(env: dict[str, str]) -> None:
    p = run(["org", "list"], env, check=False)
    assert p.returncode == 1 and "qinglang db upgrade" in p.stderr
    run(["db", "upgrade"], env)
    p = run(["user", "add", "bob", "--role", "wizard", "--password", "long-enough"], env, check=False)
    assert p.returncode == 1 and "role must be one of" in p.stderr and "Traceback" not in p.stderr
    p = run(["user", "add", "bob", "--role", "org_agent", "--password", "long-enough"], env, check=False)
    assert p.returncode == 1 and "(org)" in p.stderr
    p = run(["token", "create", "nobody"], env, check=False)
    assert p.returncode == 1 and "not found" in p.stderr


@pytest.mark.parametrize(("name", "value"), [("QINGLANG_ANALYSIS_PROCESSES", "abc"),
                                             ("QINGLANG_ANALYSIS_PROCESSES", "-1"), ("QINGLANG_READ_AHEAD", "maybe")])
def test_bad_setting_is_one_line_naming_the_variable(env: dict[str, str], tmp_path: Path, name: str,
                                                     value: str) -> None:
    run(["db", "upgrade"], env)
    before = (tmp_path / "q.db").read_bytes()
    p = run(["worker"], {**env, name: value}, check=False)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0] and value in lines[0]
    assert (tmp_path / "q.db").read_bytes() == before  # nothing was written


def test_worker_stops_on_sigterm_even_in_a_burst(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import signal
    import time

    from qinglang.lifecycle import start_with_ready_pipe, wait_ready

    run(["db", "upgrade"], env)
    for key in ("QINGLANG_DATA_DIR", "QINGLANG_DATABASE_URL"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("QINGLANG_ANALYSIS_PROCESSES", "0")
    child, fd = start_with_ready_pipe([*QL, "worker"])
    try:
        assert wait_ready(child, fd, 120)
        for _ in range(20):  # signals landing while the last one's handler runs
            child.send_signal(signal.SIGTERM)
            time.sleep(0.001)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_index_status_and_rebuild(env: dict[str, str], tmp_path: Path) -> None:
    import json

    p = run(["index", "status"], env, check=False)
    assert p.returncode == 1 and "qinglang db upgrade" in p.stderr
    run(["db", "upgrade"], env)
    assert "no saved index" in run(["index", "status"], env).stdout
    rows = "claim,verdict,summary,lang\nDrinking bleach cures COVID-19,false,It does not,en\n"
    (tmp_path / "d.csv").write_text(rows, encoding="utf-8")
    run(["org", "add", "fc", "--kind", "fact_checker", "--name-zh", "核查", "--name-en", "FC"], env)
    run(["debunks", "import", str(tmp_path / "d.csv"), "--org", "fc"], env)
    assert "rebuilt and saved: 1 debunks at checkpoint 0" in run(["index", "rebuild"], env).stdout
    dead = tmp_path / "index" / "tmp-4242-1-deadbeef"
    dead.mkdir()
    (dead / "part").write_bytes(b"\0" * 4096)
    st = json.loads(run(["index", "status", "--json"], env).stdout)
    assert st["checkpoint"] == 0 and st["published_debunks"] == 1
    assert st["saved"]["checkpoint"] == 0 and st["saved"]["debunks"] == 1 and st["saved"]["this_database"]
    assert st["saved"]["usable"] and st["saved"]["bytes"] > 0
    assert st["leftovers"] == 1 and st["leftover_bytes"] == 4096
    text = run(["index", "status"], env).stdout
    assert "this database's" in text and "catches up 0 changed" in text and "1 temp dir(s)" in text
