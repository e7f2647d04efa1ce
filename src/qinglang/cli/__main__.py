"""`python -m qinglang.cli` runs the CLI (used by tests and when the script is not on PATH)."""

from qinglang.cli import app

if __name__ == "__main__":  # not when a spawned helper process re-imports the main module
    app(prog_name="qinglang")
