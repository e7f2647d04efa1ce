"""`python -m qinglang.cli` runs the CLI (used by tests and when the script is not on PATH)."""

from qinglang.cli import app

app(prog_name="qinglang")
