"""The match, scan and eval CLI commands: output formats, resumable scan, readable errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qinglang.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    pool = d / "pool.jsonl"
    pool.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in [
            {"vclaim_id": "salt", "vclaim": "食用碘盐可以预防核辐射", "title": "碘盐防辐射？"},
            {"vclaim_id": "5g", "vclaim": "5G towers spread the coronavirus"},
            {"vclaim_id": "moon", "vclaim": "The moon landing was filmed in a studio"},
        ]) + "\n", encoding="utf-8")
    (d / "q.tsv").write_text("a\t吃碘盐能防核辐射\nb\t5G masts spread covid\nc\tthe moon landing was fake\n",
                             encoding="utf-8")
    (d / "r.tsv").write_text("a\t0\tsalt\t1\nb\t0\t5g\t1\nc\t0\tmoon\t1\n", encoding="utf-8")
    posts = d / "posts.jsonl"
    texts = ["吃碘盐能防核辐射", "5G masts spread covid", "吃碘盐能防核辐射", "5g MASTS spread covid ", "hello"]
    posts.write_text("".join(json.dumps({"id": f"p{i}", "text": t}, ensure_ascii=False) + "\n"
                             for i, t in enumerate(texts)), encoding="utf-8")
    return {"pool": pool, "q": d / "q.tsv", "r": d / "r.tsv", "posts": posts, "dir": d}


def test_match_json(files: dict[str, Path]) -> None:
    res = runner.invoke(app, ["match", "吃碘盐能防核辐射吗", "--pool", str(files["pool"]), "--top-k", "2", "--json"])
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout)
    assert hits[0]["id"] == "salt" and set(hits[0]) == {"id", "score", "band", "explanation", "matched_text"}


@pytest.mark.parametrize("dates", ["--dates", "--no-dates"])
def test_eval_last_line(files: dict[str, Path], dates: str) -> None:
    res = runner.invoke(app, ["eval", "match", "--pool", str(files["pool"]), "--queries", str(files["q"]),
                              "--qrels", str(files["r"]), dates])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().splitlines()[-1] == "map@1=1.0000 map@5=1.0000 p@1=1.0000 recall@10=1.0000"


def test_scan_caches_and_resumes(files: dict[str, Path]) -> None:
    out = files["dir"] / "hits.jsonl"
    res = runner.invoke(app, ["scan", str(files["posts"]), "-o", str(out), "--pool", str(files["pool"]),
                              "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "2 from cache" in res.stderr  # exact repost and normalised repost
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == ["p0", "p1", "p2", "p3", "p4"]
    assert lines[0]["hits"][0]["id"] == "salt" and lines[2]["hits"] == lines[0]["hits"]
    # interrupted mid-line: the torn line is dropped and only the missing posts are scanned
    data = out.read_bytes()
    out.write_bytes(data[: data.rfind(b"\n", 0, len(data) - 1) + 10])
    res = runner.invoke(app, ["scan", str(files["posts"]), "-o", str(out), "--pool", str(files["pool"]),
                              "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "4 already done" in res.stderr
    again = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in again] == ["p0", "p1", "p2", "p3", "p4"]


def test_errors_are_one_line(files: dict[str, Path], tmp_path: Path) -> None:
    res = runner.invoke(app, ["match", "x", "--pool", str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 1 and res.stderr.startswith("error:") and "nope.jsonl" in res.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "ok"}\n{"id": "2"}\n', encoding="utf-8")
    res = runner.invoke(app, ["scan", str(bad), "-o", str(tmp_path / "o.jsonl"), "--pool", str(files["pool"]),
                              "--workers", "1"])
    assert res.exit_code == 1 and "bad.jsonl:2:" in res.stderr
    assert len(res.stderr.strip().splitlines()[-1]) < 200
    res = runner.invoke(app, ["eval", "match", "--pool", str(files["pool"]), "--queries", str(tmp_path / "q.tsv"),
                              "--qrels", str(files["r"])])
    assert res.exit_code == 1 and "error: file not found" in res.stderr


def test_a_bad_setting_is_one_line_naming_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qinglang.settings import get_settings

    monkeypatch.setenv("QINGLANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QINGLANG_HUGE_PAGES", "maybe")
    get_settings.cache_clear()
    try:
        res = runner.invoke(app, ["match", "5G masts spread covid"])  # the store's matcher reads the settings
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == ["error: bad value 'maybe': Input should be a valid boolean, unable to "
                                               "interpret input (QINGLANG_HUGE_PAGES)"]
    assert list(tmp_path.iterdir()) == []  # nothing created or written


def test_two_worker_processes_give_the_same_hits(files: dict[str, Path]) -> None:
    outs = []
    for workers in ("1", "2"):
        out = files["dir"] / f"w{workers}.jsonl"
        res = runner.invoke(app, ["scan", str(files["posts"]), "-o", str(out), "--pool", str(files["pool"]),
                                  "--workers", workers])
        assert res.exit_code == 0, res.output
        outs.append([json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()])
    # Batches split differently across processes, so floats may differ in the last bits; rankings may not.
    assert [[(x["id"], [h["id"] for h in x["hits"]])] for x in outs[0]] == \
        [[(x["id"], [h["id"] for h in x["hits"]])] for x in outs[1]]


def test_train_reranker_rejects_a_single_fold(tmp_path: Path) -> None:
    import subprocess
    import sys

    model, calib = tmp_path / "m.txt", tmp_path / "c.json"
    r = subprocess.run([sys.executable, "-m", "qinglang.match.train_reranker", "--folds", "1",
                        "--out-model", str(model), "--out-calibration", str(calib)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--folds must be at least 2" in r.stderr.strip().splitlines()[-1]
    assert not model.exists() and not calib.exists()  # nothing written


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scan_reads_post_dates(tmp_path: Path, workers: str) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in [
        {"vclaim_id": "old", "vclaim": "Facebook will start charging users a monthly fee", "date": "1 March 2012"},
        {"vclaim_id": "new", "vclaim": "Facebook will start charging users a monthly fee", "date": "2021-06-10"},
        {"vclaim_id": "moon", "vclaim": "The moon landing was filmed in a studio"},
    ]), encoding="utf-8")
    text = "Facebook is going to charge everyone a monthly fee starting next month!"
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "text": text, "date": "2021-06-08"}, {"id": "b", "text": text, "date": "2012-02-20"},
        {"id": "c", "text": text, "date": "2021-06-08T09:30:00Z"}, {"id": "d", "text": text}]), encoding="utf-8")
    out = tmp_path / "hits.jsonl"
    res = runner.invoke(app, ["scan", str(posts), "-o", str(out), "--pool", str(pool), "--workers", workers])
    assert res.exit_code == 0, res.output
    assert "1 from cache" in res.stderr  # only the same text on the same day is a repost
    top = {x["id"]: x["hits"][0]["id"] for x in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert top["a"] == top["c"] == "new" and top["b"] == "old" and top["d"] in {"old", "new"}
    posts.write_text(json.dumps({"id": "x", "text": text, "date": "next week"}) + "\n", encoding="utf-8")
    res = runner.invoke(app, ["scan", str(posts), "-o", str(tmp_path / "o.jsonl"), "--pool", str(pool),
                              "--workers", workers])
    assert res.exit_code == 1 and "posts.jsonl:1:" in res.stderr and "date" in res.stderr
