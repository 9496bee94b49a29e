"""`rsp-ledger verify` (SPEC §8) and `rsp-ledger export` (SPEC §6, §9).

`verify` needs no ledger: the bundle and the ledger's vkey only, as an auditor has them. Its exit
codes are SPEC §8's (0, 1, 2, 3), not the generic ones of the other commands.
"""

from __future__ import annotations

import base64
import sys

import click

from cli._common import (
    emit,
    handle_errors,
    json_option,
    key_file_option,
    ledger_option,
    open_ledger,
)
from ledger.client import RemoteLedger
from ledger.errors import UsageError
from ledger.export import export_bundle
from ledger.store import Ledger
from verify.command import run


@click.command("verify")
@click.argument("bundle", metavar="BUNDLE")
@click.option(
    "--ledger-key", required=True, metavar="VKEY", help="The ledger's vkey (the trust root)."
)
@click.option("--json", "as_json", is_flag=True, help="Print SPEC §8's JSON report.")
@click.option("--html", "html_path", metavar="FILE", help="Also write an HTML report to FILE.")
@click.option(
    "--since", "since_path", metavar="CHECKPOINT_FILE", help="An older checkpoint to extend."
)
@click.option("--witness", "witnesses", multiple=True, metavar="VKEY", help="A witness vkey.")
@click.option(
    "--witness-threshold",
    type=int,
    default=None,
    metavar="K",
    help="Cosignatures needed (default: every witness).",
)
def verify_command(
    bundle: str,
    ledger_key: str,
    as_json: bool,
    html_path: str | None,
    since_path: str | None,
    witnesses: tuple[str, ...],
    witness_threshold: int | None,
) -> None:
    """Verify an export bundle offline: integrity (SPEC §6), then every verdict (SPEC §5)."""
    sys.exit(
        run(
            bundle,
            ledger_key,
            as_json=as_json,
            html=html_path,
            since=since_path,
            witnesses=witnesses,
            witness_threshold=witness_threshold,
        )
    )


@click.command("export")
@click.option("--out", required=True, metavar="FILE", help="Where to write the bundle.")
@click.option("--redact", is_flag=True, help="Leave every detail out (SPEC §7).")
@click.option(
    "--size", type=click.IntRange(min=1), default=None, help="Tree size (default: the latest)."
)
@ledger_option
@key_file_option
@json_option
@handle_errors
def export_command(
    out: str,
    redact: bool,
    size: int | None,
    ledger_url: str | None,
    ledger_key_file: str | None,
    as_json: bool,
) -> None:
    """Write the signed export bundle of SPEC §6 for auditors and regulators."""
    with open_ledger(ledger_url, ledger_key_file, need_key=True) as ledger:
        if isinstance(ledger, RemoteLedger):  # the service signs with the key it holds
            result = ledger.export(out, redact=redact, size=size)
        elif isinstance(ledger, Ledger):
            result = export_bundle(ledger, out, redact=redact, size=size)
        else:
            raise UsageError(f"export: cannot export from {ledger.display_url}")
    m = result.manifest

    def human() -> None:
        withheld = result.details_committed - result.details_written
        click.echo(
            f"wrote {out}: {m.tree_size} entries, root {base64.b64encode(m.root).decode()}, "
            + (f"redacted ({withheld} details withheld)" if m.redacted else "not redacted")
        )

    emit(result.to_json(), as_json, human)
