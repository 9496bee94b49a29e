"""`rsp-ledger ledger-key`: print the verifier key (SPEC §9); `rotate` hands the log over to a new
ledger key; `history` prints the key history an auditor needs to follow the rotation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from cli._common import (
    emit,
    handle_errors,
    json_option,
    key_file_option,
    ledger_option,
    open_ledger,
)
from ledger.access import LedgerAccess
from ledger.config import resolve_key_file, resolve_ledger_url
from ledger.errors import UsageError
from ledger.key_rotation import key_history_document, rotate_ledger_key
from ledger.keyfile import read_private_key, write_private_key
from ledger.store import Ledger
from verify.keys import Ed25519Signer


@click.group("ledger-key", invoke_without_command=True)
@ledger_option
@json_option
@click.pass_context
@handle_errors
def ledger_key(ctx: click.Context, ledger_url: str | None, as_json: bool) -> None:
    """Print the ledger's verifier key (vkey), the auditor's trust root."""
    if ctx.invoked_subcommand is not None:
        return
    with open_ledger(ledger_url) as ledger:
        vkey = ledger.vkey
        origin = ledger.origin
    emit({"vkey": vkey, "origin": origin}, as_json, lambda: click.echo(vkey))


@ledger_key.command("rotate")
@ledger_option
@key_file_option
@click.option(
    "--new-key-file",
    metavar="PATH",
    help="Write the new key here (default: replace the key file, keeping the old one as "
    "FILE.retired-SIZE).",
)
@json_option
@handle_errors
def rotate(
    ledger_url: str | None, ledger_key_file: str | None, new_key_file: str | None, as_json: bool
) -> None:
    """Hand the log over to a new ledger key, vouched for by the current one."""
    url = resolve_ledger_url(ledger_url)
    key_path = resolve_key_file(ledger_key_file, url)
    if key_path is None:
        raise UsageError("expected the current ledger key: --ledger-key-file")
    old = read_private_key(key_path)
    new = Ed25519Signer.generate()
    staged = Path(new_key_file) if new_key_file else Path(f"{key_path}.next")
    write_private_key(staged, new)
    with open_ledger(ledger_url, ledger_key_file, need_key=True) as ledger:
        note = rotate_ledger_key(_local(ledger, "rotate"), old, new)
        size = ledger.size()
        vkey = ledger.vkey
    if new_key_file is None:
        # The ledger now expects the new key: move it into place, keep the old one retired.
        os.replace(key_path, f"{key_path}.retired-{size}")
        os.replace(staged, key_path)
        os.remove(f"{staged}.pub")
    where = str(Path(new_key_file) if new_key_file else key_path)
    emit(
        {"vkey": vkey, "from_size": size, "key_file": where, "transition": note},
        as_json,
        lambda: click.echo(vkey),
    )


@ledger_key.command("history")
@ledger_option
@handle_errors
def history(ledger_url: str | None) -> None:
    """Print the key history (JSON) that lets an auditor follow rotations from the trust root."""
    with open_ledger(ledger_url) as ledger:
        click.echo(json.dumps(key_history_document(_local(ledger, "history")), indent=2))


def _local(ledger: LedgerAccess, what: str) -> Ledger:
    if not isinstance(ledger, Ledger):
        raise UsageError(f"ledger-key {what}: expected a database URL, found a ledger service")
    return ledger
