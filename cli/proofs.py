"""Checkpoints and proofs: `checkpoint`, `prove inclusion|consistency`, and the offline
`check-proof`, which uses `verify/` alone and trusts nothing but the vkey it is given."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from cli._common import (
    EXIT_USAGE,
    emit,
    fail,
    handle_errors,
    json_option,
    key_file_option,
    ledger_option,
    open_ledger,
    read_input,
)
from cli.witness import WitnessExchange, witness_options
from domain.errors import VerificationError
from verify.merkle import leaf_hash, verify_consistency
from verify.note import Vkey, parse_checkpoint_body, parse_note, verify_checkpoint
from verify.tlog_proof import TlogProof, format_tlog_proof, parse_tlog_proof, verify_tlog_proof

_SIZE = click.IntRange(min=1)
P = ParamSpec("P")
R = TypeVar("R")


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


@click.command()
@click.option("--size", type=_SIZE, default=None, help="Tree size (default: the latest).")
@ledger_option
@key_file_option
@json_option
@witness_options
@handle_errors
def checkpoint(
    witnesses: WitnessExchange,
    size: int | None,
    ledger_url: str | None,
    ledger_key_file: str | None,
    as_json: bool,
) -> None:
    """Print the signed checkpoint (a C2SP signed note), with any witness cosignatures."""
    with open_ledger(ledger_url, ledger_key_file, want_key=True) as ledger:
        note = witnesses.run(ledger, size) if witnesses.requested else ledger.checkpoint(size)
    body = parse_checkpoint_body(parse_note(note).text)
    data = {"origin": body.origin, "size": body.size, "root": _b64(body.root), "note": note}
    if witnesses.requested:
        data["witnesses"] = witnesses.report()
    emit(data, as_json, lambda: click.echo(note, nl=False))
    witnesses.finish()


@click.group()
def prove() -> None:
    """Inclusion and consistency proofs (RFC 9162) against signed checkpoints."""


@prove.command("inclusion")
@click.argument("seq", type=click.IntRange(min=0))
@click.option("--size", type=_SIZE, default=None, help="Tree size (default: the latest).")
@ledger_option
@key_file_option
@json_option
@handle_errors
def prove_inclusion(
    seq: int, size: int | None, ledger_url: str | None, ledger_key_file: str | None, as_json: bool
) -> None:
    """Print entry SEQ's inclusion proof in the C2SP tlog-proof form."""
    with open_ledger(ledger_url, ledger_key_file, want_key=True) as ledger:
        proof, note = ledger.inclusion_proof(seq, size)
        leaf = leaf_hash(ledger.entry(seq).leaf)
    text = format_tlog_proof(TlogProof(seq, tuple(proof), note))
    emit(
        {
            "index": seq,
            "leaf_hash": _b64(leaf),
            "hashes": [_b64(h) for h in proof],
            "checkpoint": note,
            "tlog_proof": text,
        },
        as_json,
        lambda: click.echo(text, nl=False),
    )


@prove.command("consistency")
@click.argument("old", type=_SIZE)
@click.argument("new", type=_SIZE)
@ledger_option
@key_file_option
@json_option
@handle_errors
def prove_consistency(
    old: int, new: int, ledger_url: str | None, ledger_key_file: str | None, as_json: bool
) -> None:
    """Print the consistency proof from tree size OLD to NEW, one base64 hash a line."""
    with open_ledger(ledger_url, ledger_key_file, want_key=True) as ledger:
        proof = ledger.consistency_proof(old, new)
    emit(
        {"old": old, "new": new, "hashes": [_b64(h) for h in proof]},
        as_json,
        lambda: click.echo("".join(_b64(h) + "\n" for h in proof), nl=False),
    )


def _vkey(text: str) -> Vkey:
    try:
        return Vkey.parse(text.strip())
    except VerificationError as e:
        fail(f"--ledger-key: {e}", EXIT_USAGE)


def _vkey_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--ledger-key",
        "vkey_text",
        required=True,
        metavar="VKEY",
        help="The ledger's verifier key (or @FILE holding it): the trust root.",
    )(fn)


def _read_vkey(value: str) -> Vkey:
    if value.startswith("@"):
        return _vkey(read_input(value[1:]).decode("utf-8", "replace"))
    return _vkey(value)


@click.group("check-proof")
def check_proof() -> None:
    """Verify a proof offline, with verify/ alone and the ledger's vkey."""


@check_proof.command("inclusion")
@click.argument("proof_file", metavar="PROOF")
@click.option("--entry", "entry_file", metavar="FILE", help="The entry's exact JCS bytes.")
@click.option("--leaf-hash", metavar="HEX", help="The entry's leaf hash, in hex.")
@_vkey_option
@json_option
@handle_errors
def check_inclusion(
    proof_file: str,
    entry_file: str | None,
    leaf_hash: str | None,
    vkey_text: str,
    as_json: bool,
) -> None:
    """Check a tlog-proof (from `prove inclusion`) for an entry or a leaf hash."""
    vkey = _read_vkey(vkey_text)
    if (entry_file is None) == (leaf_hash is None):
        fail("expected exactly one of --entry FILE or --leaf-hash HEX", EXIT_USAGE)
    if entry_file is not None:
        leaf = _leaf_of(Path(entry_file))
    else:
        try:
            leaf = bytes.fromhex(leaf_hash or "")
        except ValueError:
            fail(f"--leaf-hash: expected 64 hex digits, found {leaf_hash!r}", EXIT_USAGE)
    proof = parse_tlog_proof(read_input(proof_file))
    cp, _ = verify_tlog_proof(proof, leaf, vkey)
    emit(
        {"ok": True, "index": proof.index, "size": cp.size, "origin": cp.origin},
        as_json,
        lambda: click.echo(f"ok: entry {proof.index} is in {cp.origin} at size {cp.size}"),
    )


def _leaf_of(path: Path) -> bytes:
    data = read_input(str(path))
    return leaf_hash(data[:-1] if data.endswith(b"\n") else data)


@check_proof.command("consistency")
@click.argument("proof_file", metavar="PROOF")
@click.option("--old", "old_file", required=True, metavar="CHECKPOINT", help="Older checkpoint.")
@click.option("--new", "new_file", required=True, metavar="CHECKPOINT", help="Newer checkpoint.")
@_vkey_option
@json_option
@handle_errors
def check_consistency(
    proof_file: str, old_file: str, new_file: str, vkey_text: str, as_json: bool
) -> None:
    """Check that checkpoint NEW's tree extends OLD's, with the hashes from `prove consistency`."""
    vkey = _read_vkey(vkey_text)
    old, _ = verify_checkpoint(read_input(old_file), vkey)
    new, _ = verify_checkpoint(read_input(new_file), vkey)
    hashes: list[bytes] = []
    for i, line in enumerate(read_input(proof_file).decode("ascii", "replace").splitlines()):
        if not line.strip():
            continue
        try:
            hashes.append(base64.b64decode(line.strip(), validate=True))
        except (binascii.Error, ValueError):
            fail(f"{proof_file} line {i + 1}: expected a base64 hash", EXIT_USAGE)
    verify_consistency(old.size, new.size, hashes, old.root, new.root)
    emit(
        {"ok": True, "old": old.size, "new": new.size, "origin": new.origin},
        as_json,
        lambda: click.echo(f"ok: {new.origin} at size {new.size} extends size {old.size}"),
    )
