"""The `rsp-ledger` command (SPEC §9). Thin: parse, call, print, map errors to exit codes.

Each command lives in its own module and is imported only when it is run (or listed by
`--help`): starting the CLI must not pay for what other commands need — SQLAlchemy and the
event store for a `verify`, FastAPI and uvicorn for a `status` (docs/projections.md, "Time
travel"). So `COMMANDS` names where each command is, and nothing here imports them.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import sys
from typing import Any

import click

# The process ends when its command does. Frozen, the objects a command built (a replay of the
# log, for `status --as-of`) are not walked by the collection the interpreter runs at exit,
# which takes longer than the command's own answer on a big ledger.
atexit.register(gc.freeze)

# command name → "module:attribute" of its click command, in `--help` order (alphabetical).
COMMANDS: dict[str, str] = {
    "check": "cli.compliance:check",
    "check-proof": "cli.proofs:check_proof",
    "checkpoint": "cli.proofs:checkpoint",
    "demo": "cli.demo:demo",
    "export": "cli.verify_cmd:export_command",
    "init": "cli.entries:init",
    "key": "cli.entries:key",
    "ledger-key": "cli.ledger_key:ledger_key",
    "log": "cli.entries:log_cmd",
    "policy": "cli.policy:policy",
    "projections": "cli.state:projections",
    "prove": "cli.proofs:prove",
    "serve": "cli.serve:serve",
    "show": "cli.entries:show",
    "sign": "cli.entries:sign",
    "status": "cli.state:status",
    "submit": "cli.entries:submit",
    "timeline": "cli.state:timeline",
    "verdicts": "cli.compliance:verdicts",
    "verify": "cli.verify_cmd:verify_command",
    "witness": "cli.witness:witness",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when first asked for."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = self.lazy.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = where.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):  # a wrong entry in COMMANDS: a bug here
            raise TypeError(f"{where} is not a click command")
        return command


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rsp-ledger")
def main() -> None:
    """A signed, event-sourced audit ledger for frontier-AI safety frameworks."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
