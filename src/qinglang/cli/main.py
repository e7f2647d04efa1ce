"""Root typer app. Each domain's commands live in their own module, which exposes `register(app)`."""

from __future__ import annotations

import typer

from qinglang.cli import core_cmds, debunks_cmds, export_cmds, index_cmds, intel_cmds, match_cmds, triage_cmds

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="qinglang (清朗): report, debunk, match, triage, act.")

for module in (core_cmds, debunks_cmds, match_cmds, index_cmds, triage_cmds, intel_cmds, export_cmds):
    module.register(app)
