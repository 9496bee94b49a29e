"""`rsp-ledger witness …` (a regulator's or auditor's witness, c2sp.org/tlog-witness) and the
ledger's side of the exchange, which `rsp-ledger checkpoint` takes as options: `--witness URL`
(push over HTTP), `--witness-request OUT` (a request file for an air-gapped witness) and
`--attach FILE` (its cosignature file). docs/witnesses.md.
"""

from __future__ import annotations

import base64
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import click

from cli._common import EXIT_REFUSED, EXIT_USAGE, emit, fail, handle_errors, json_option, read_input
from domain.errors import LedgerError, VerificationError
from ledger.access import LedgerAccess
from ledger.errors import UsageError
from ledger.store import Ledger
from ledger.witness import Witness
from verify.note import SIG_COSIGNATURE_V1, SIG_ED25519, Vkey, parse_checkpoint_body, parse_note
from verify.witness import (
    AddCheckpointRequest,
    checkpoint_origin,
    parse_add_checkpoint,
    parse_proof_lines,
    select_cosignatures,
)

P = ParamSpec("P")
R = TypeVar("R")


def _text_of(path: str) -> str:
    data = read_input(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{path}: expected UTF-8 text", EXIT_USAGE)


def _vkey(value: str, option: str, sig_type: int) -> Vkey:
    """A vkey given inline or as @FILE, of the expected signature type (a usage error if not)."""
    text = _text_of(value[1:]).strip() if value.startswith("@") else value.strip()
    try:
        vkey = Vkey.parse(text)
    except VerificationError as e:
        fail(f"{option}: {e}", EXIT_USAGE)
    if vkey.sig_type != sig_type:
        fail(
            f"{option} {vkey.label}: expected signature type 0x{sig_type:02x}, "
            f"found 0x{vkey.sig_type:02x}",
            EXIT_USAGE,
        )
    return vkey


def _state_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--state",
        "state_dir",
        required=True,
        metavar="DIR",
        type=click.Path(file_okay=False, path_type=Path),
        help="The witness's state directory.",
    )(fn)


@click.group()
def witness() -> None:
    """Be a witness: cosign a log's checkpoints only while it stays append-only (C2SP)."""


@witness.command("init")
@click.option("--key", "key_file", required=True, metavar="FILE", type=click.Path(path_type=Path))
@_state_option
@click.option(
    "--name", required=True, metavar="NAME", help="Witness name, e.g. regulator.example/w1."
)
@json_option
@handle_errors
def witness_init(key_file: Path, state_dir: Path, name: str, as_json: bool) -> None:
    """Create a witness: its key in FILE (created 0600 if absent) and its state in DIR."""
    w = Witness.init(state_dir, key_file, name)
    data = {"vkey": str(w.vkey), "name": w.name, "state": str(state_dir), "key": str(key_file)}
    emit(data, as_json, lambda: click.echo(str(w.vkey)))


@witness.command("add-log")
@_state_option
@click.option("--origin", required=True, metavar="ORIGIN", help="The log's origin line.")
@click.option(
    "--ledger-key", "vkey_text", required=True, metavar="VKEY", help="The log's vkey (or @FILE)."
)
@click.option(
    "--rotate",
    is_flag=True,
    help="The log rotated its key: trust VKEY instead of the old key, keep what was cosigned.",
)
@json_option
@handle_errors
def witness_add_log(
    state_dir: Path, origin: str, vkey_text: str, rotate: bool, as_json: bool
) -> None:
    """Follow a log: cosign its checkpoints signed by VKEY, from size 0 on."""
    vkey = _vkey(vkey_text, "--ledger-key", SIG_ED25519)
    if vkey.name != origin:
        fail(
            f"--ledger-key {vkey.label}: expected the key name to be the origin {origin!r} "
            "(SPEC §3)",
            EXIT_USAGE,
        )
    log = Witness.open(state_dir).add_log(vkey, rotate=rotate)
    emit(
        log.to_json(),
        as_json,
        lambda: click.echo(f"following {origin} (cosigned up to size {log.state.size})"),
    )


@witness.command("status")
@_state_option
@json_option
@handle_errors
def witness_status(state_dir: Path, as_json: bool) -> None:
    """The witness's vkey and, for each log it follows, the latest size it cosigned."""
    w = Witness.open(state_dir)
    logs = w.logs()

    def human() -> None:
        click.echo(str(w.vkey))
        for log in logs:
            j = log.to_json()
            click.echo(f"{j['origin']}  size {j['size']}  root {j['root']}")

    emit({"vkey": str(w.vkey), "logs": [log.to_json() for log in logs]}, as_json, human)


@witness.command("cosign")
@_state_option
@click.option(
    "--checkpoint",
    "checkpoint_file",
    required=True,
    metavar="FILE",
    help="A signed checkpoint, or a request file from `rsp-ledger checkpoint --witness-request`.",
)
@click.option(
    "--proof",
    "proof_file",
    metavar="FILE",
    help="Consistency proof from the last cosigned size: base64 hashes, after an optional "
    "'old N' line (as `rsp-ledger prove consistency` prints).",
)
@click.option("--out", metavar="FILE", help="Write the cosignature file (the cosigned checkpoint).")
@json_option
@handle_errors
def witness_cosign(
    state_dir: Path, checkpoint_file: str, proof_file: str | None, out: str | None, as_json: bool
) -> None:
    """Cosign a checkpoint offline, if it extends what this witness cosigned; print the line."""
    w = Witness.open(state_dir)
    text = _text_of(checkpoint_file)
    if text.startswith("old "):
        if proof_file is not None:
            fail("--proof: a request file carries its own proof; give one or the other", EXIT_USAGE)
        request = parse_add_checkpoint(text)
    else:
        old: int | None = None
        proof: tuple[bytes, ...] = ()
        if proof_file is not None:
            old, proof = parse_proof_lines(_text_of(proof_file))
        if old is None:
            # Offline, the old size is this witness's own: the proof must start from it.
            old = w.log(checkpoint_origin(text)).state.size
        request = AddCheckpointRequest(old, proof, text)
    result = w.add_checkpoint(request)
    if out is not None:
        try:
            Path(out).write_text(result.note, encoding="utf-8")
        except OSError as e:
            # Cosigned and recorded already: the line is printed below all the same.
            click.echo(f"error: --out {out}: cannot write: {e.strerror}", err=True)
    cp = result.checkpoint
    data = {
        "witness": str(w.vkey),
        "origin": cp.origin,
        "size": cp.size,
        "root": base64.b64encode(cp.root).decode(),
        "timestamp": result.timestamp,
        "line": result.line,
        "note": result.note,
    }
    emit(data, as_json, lambda: click.echo(result.line, nl=False))


@witness.command("serve")
@_state_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True)
@click.option("--public", is_flag=True, help="Allow binding beyond loopback.")
@click.option("--log-level", default="warning", show_default=True, help="uvicorn's log level.")
@handle_errors
def witness_serve(state_dir: Path, host: str, port: int, public: bool, log_level: str) -> None:
    """Serve C2SP tlog-witness `POST /add-checkpoint`."""
    # Imported here: uvicorn and Starlette are heavy, and every other command starts without them.
    import uvicorn

    from cli.serve import is_loopback
    from ledger.witness_server import create_app

    if not public and not is_loopback(host):
        fail(f"--host {host}: expected a loopback address, or --public to bind beyond", EXIT_USAGE)
    w = Witness.open(state_dir)  # checked before binding: a mistake is one line and exit 2/1
    click.echo(f"witness {w.vkey} serving add-checkpoint on http://{host}:{port}", err=True)
    uvicorn.run(
        create_app(w),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        server_header=False,
    )


# -- the ledger's side: options of `rsp-ledger checkpoint` --------------------------------------
@dataclass
class WitnessExchange:
    """What `rsp-ledger checkpoint` was asked to do with witnesses, and how it went."""

    urls: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    request_out: str | None = None
    old_size: int | None = None
    attach: str | None = None
    added: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def requested(self) -> bool:
        return bool(
            self.urls or self.keys or self.request_out or self.attach or self.old_size is not None
        )

    def _witness_keys(self) -> list[Vkey]:
        return [_vkey(k, "--witness-key", SIG_COSIGNATURE_V1) for k in self.keys]

    def run(self, ledger: LedgerAccess, size: int | None) -> str:
        """Attach, push, write the request; returns the checkpoint to print (with what was
        stored). Failures of single witnesses are collected in `errors`."""
        keys = self._witness_keys()
        if (self.urls or self.attach) and not keys:
            raise UsageError(
                "--witness and --attach keep only cosignatures by known witnesses: expected "
                "--witness-key VKEY (c2sp.org/tlog-witness: unknown keys are ignored)"
            )
        if keys and not (self.urls or self.attach):
            raise UsageError("--witness-key: expected --witness URL or --attach FILE with it")
        if self.old_size is not None and self.request_out is None:
            raise UsageError("--old: expected --witness-request OUT with it")
        if (self.urls or self.attach) and not isinstance(ledger, Ledger):
            raise UsageError(
                "--witness and --attach store cosignatures: expected a database ledger "
                f"(--ledger sqlite:///… or postgresql…), found {ledger.display_url}"
            )
        if self.attach is not None:
            assert isinstance(ledger, Ledger)
            size = self._attach(ledger, self.attach, keys) if size is None else size
        n = ledger.size() if size is None else size
        if self.urls:
            assert isinstance(ledger, Ledger)
            self._push(ledger, n, keys)
        if self.request_out is not None:
            self._write_request(ledger, n, self.request_out)
        return ledger.checkpoint(n)

    def _attach(self, ledger: Ledger, path: str, keys: list[Vkey]) -> int:
        cosigned = _text_of(path)
        note = parse_note(cosigned)
        cp = parse_checkpoint_body(note.text)
        if cp.origin != ledger.origin:
            raise LedgerError(
                f"{path}: expected a checkpoint of {ledger.origin}, found one of {cp.origin}"
            )
        ours = parse_note(ledger.checkpoint(cp.size)).text
        if note.text != ours:
            raise LedgerError(
                f"{path}: cosigns a checkpoint of size {cp.size} that is not this ledger's "
                "(another root): refused"
            )
        if not select_cosignatures(note.text, cosigned, keys):
            raise LedgerError(
                f"{path}: expected a cosignature by --witness-key "
                f"{', '.join(k.label for k in keys)}, found "
                f"{', '.join(s.label for s in note.signatures)}"
            )
        self.added += ledger.add_cosignatures(cp.size, cosigned, keys)
        return cp.size

    def _push(self, ledger: Ledger, size: int, keys: list[Vkey]) -> None:
        from ledger.witness_client import request_cosignature

        note = ledger.checkpoint(size)
        text = parse_note(note).text
        for url in self.urls:
            try:
                answer = request_cosignature(url, note, ledger.consistency_proof)
                # The answer is signature lines for this text (tlog-witness: "the client MAY
                # concatenate it to the checkpoint").
                cosigned = text + "\n" + answer
                if not select_cosignatures(text, cosigned, keys):
                    raise LedgerError(
                        f"expected a cosignature by --witness-key "
                        f"{', '.join(k.label for k in keys)}, found none in the answer"
                    )
                self.added += ledger.add_cosignatures(size, cosigned, keys)
            except (LedgerError, VerificationError) as e:
                self.errors.append(f"witness {url}: {e}")

    def _write_request(self, ledger: LedgerAccess, size: int, out: str) -> None:
        old = self.old_size or 0
        if old > size:
            raise UsageError(f"--old {old}: expected at most the checkpoint's size {size}")
        proof = ledger.consistency_proof(old, size) if old > 0 else []
        request = AddCheckpointRequest(old, tuple(proof), ledger.checkpoint(size))
        try:
            Path(out).write_text(request.to_text(), encoding="utf-8")
        except OSError as e:
            raise UsageError(f"--witness-request {out}: cannot write: {e.strerror}") from e

    def report(self) -> dict[str, Any]:
        return {"added": self.added, "errors": self.errors}

    def finish(self) -> None:
        """After the checkpoint was printed: one line per witness that failed, and exit 1."""
        if self.errors:
            for message in self.errors:
                click.echo(f"error: {message}", err=True)
            sys.exit(EXIT_REFUSED)


def witness_options(
    fn: Callable[Concatenate[WitnessExchange, P], R],
) -> Callable[P, R]:
    """The witness options of `rsp-ledger checkpoint`, handed to the command as one
    `WitnessExchange` (its first argument)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        exchange = WitnessExchange(
            urls=tuple(kwargs.pop("witness_urls")),  # type: ignore[arg-type]
            keys=tuple(kwargs.pop("witness_keys")),  # type: ignore[arg-type]
            request_out=kwargs.pop("witness_request"),  # type: ignore[arg-type]
            old_size=kwargs.pop("old_size"),  # type: ignore[arg-type]
            attach=kwargs.pop("attach"),  # type: ignore[arg-type]
        )
        return fn(exchange, *args, **kwargs)

    options = [
        click.option(
            "--witness",
            "witness_urls",
            multiple=True,
            metavar="URL",
            help="Push the checkpoint to the witness at URL (tlog-witness prefix); repeat.",
        ),
        click.option(
            "--witness-key",
            "witness_keys",
            multiple=True,
            metavar="VKEY",
            help="A witness's vkey (or @FILE) whose cosignatures are stored; repeat.",
        ),
        click.option(
            "--witness-request",
            metavar="OUT",
            help="Write a tlog-witness add-checkpoint request for an offline witness to OUT.",
        ),
        click.option(
            "--old",
            "old_size",
            type=click.IntRange(min=0),
            default=None,
            help="With --witness-request: the size the witness last cosigned (default 0).",
        ),
        click.option(
            "--attach",
            metavar="FILE",
            help="Store the cosignatures in FILE, a witness's cosignature file.",
        ),
    ]
    decorated: Callable[..., R] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


__all__ = ["WitnessExchange", "witness", "witness_options"]
