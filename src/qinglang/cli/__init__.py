"""The `qinglang` command line: one typer app, with each domain's commands in its own module."""

from __future__ import annotations

from qinglang.cli.main import app

__all__ = ["app"]
