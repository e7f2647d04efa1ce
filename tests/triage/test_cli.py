"""`qinglang triage eval/train/analyze`: output format, exit codes, readable errors."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from qinglang.cli import triage_cmds
from qinglang.triage.evaluate import report
from qinglang.triage.models import load_models

SUMMARY = re.compile(r"^accuracy=\d\.\d{4} precision=\d\.\d{4} recall=\d\.\d{4} f1=\d\.\d{4}$")


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("noop")(lambda: None)  # a root with two commands keeps `triage` as a sub-command
    triage_cmds.register(a)
    return a


def write(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("label\ttext\n" + "".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    return path


def test_eval_prints_tables_and_ends_with_one_summary_line(tmp_path: Path) -> None:
    data = write(tmp_path / "fraud.tsv", [
        ("1", "我是公安局的民警，你涉嫌洗钱，请把钱转到安全账户"), ("1", "兼职刷单，日赚五百，先垫付后返还佣金"),
        ("0", "周末一起去爬山吧"), ("0", "Meeting moved to Thursday at 10"),
    ])
    res = CliRunner().invoke(app(), ["triage", "eval", "--detector", "fraud", "--data", str(data)])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert SUMMARY.match(lines[-1]) and lines[-1] == "accuracy=1.0000 precision=1.0000 recall=1.0000 f1=1.0000"
    assert "confusion" in res.output


def test_eval_category(tmp_path: Path) -> None:
    data = write(tmp_path / "cat.tsv", [("gambling", "线上百家乐充值送彩金，日赢十万"), ("none", "明天下午开会")])
    res = CliRunner().invoke(app(), ["triage", "eval", "--detector", "category", "--data", str(data)])
    assert res.exit_code == 0, res.output
    assert SUMMARY.match(res.output.strip().splitlines()[-1])


def test_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    r = CliRunner().invoke(app(), ["triage", "eval", "--detector", "nope", "--data", str(tmp_path / "x.tsv")])
    assert r.exit_code == 1 and "unknown detector" in r.output
    r = CliRunner().invoke(app(), ["triage", "eval", "--detector", "spam", "--data", str(tmp_path / "x.tsv")])
    assert r.exit_code == 1 and "no such file" in r.output
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\ttext\nmaybe\thello\n", encoding="utf-8")
    r = CliRunner().invoke(app(), ["triage", "eval", "--detector", "spam", "--data", str(bad)])
    assert r.exit_code == 1 and "binary label" in r.output
    assert "Traceback" not in r.output


def test_train_writes_a_loadable_bundle(tmp_path: Path) -> None:
    data = write(tmp_path / "extra.tsv", [("gambling", "新开的线上老虎机平台，首充翻倍")] * 3)
    r = CliRunner().invoke(app(), ["triage", "train", "--data", str(data), "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    bundle = load_models(tmp_path / "m")
    assert bundle.meta["categories_retrained_from"]["files"] == [str(data)]
    assert "gambling" in bundle.categories.codes


def test_analyze_json(tmp_path: Path) -> None:
    r = CliRunner().invoke(app(), ["triage", "analyze", "--json", "加微信 kefu_8899 领取退款"])
    assert r.exit_code == 0, r.output
    assert '"kind": "wechat"' in r.output and '"detectors"' in r.output


def test_report_metrics() -> None:
    rep = report("spam", ["1", "1", "0", "0"], ["1", "0", "0", "1"], positive="1")
    assert (rep.accuracy, rep.precision, rep.recall, rep.f1) == (0.5, 0.5, 0.5, 0.5)
    assert rep.confusion == [[1, 1], [1, 1]]
    multi = report("category", ["a", "a", "b"], ["a", "b", "b"])
    assert round(multi.f1, 4) == round((2 / 3 + 2 / 3) / 2, 4)
