"""Root typer app. Domain command modules each expose `register(app)`; they are added at the bottom."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="qinglang (清朗): report, debunk, match, triage, act.")

from qinglang.cli import core_cmds  # noqa: E402

from qinglang.cli import debunks_cmds, intel_cmds  # noqa: E402

core_cmds.register(app)
debunks_cmds.register(app)
intel_cmds.register(app)

# Domain command modules register here, one line each:
# (match_cmds, triage_cmds are added by their owners: `from qinglang.cli import X_cmds; X_cmds.register(app)`)
from qinglang.cli import match_cmds; match_cmds.register(app)  # noqa: E402, E702, I001
from qinglang.cli import export_cmds; export_cmds.register(app)  # noqa: E402, E702, I001
from qinglang.cli import triage_cmds; triage_cmds.register(app)  # noqa: E402, E702, I001
