"""Creating the ledger, signing, and recording and reading entries (SPEC §9): `key generate`,
`init`, `sign`, `submit`, `log` and `show`. Thin: parse, call, print, map errors to exit codes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

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
    parse_time_option,
    read_input,
)
from cli.compliance import warn
from domain.errors import VerificationError
from domain.ids import format_time
from domain.statements import statement_model
from ledger.compliance import JudgedAsRecorded
from ledger.config import resolve_key_file, resolve_ledger_url
from ledger.errors import EnvelopeRefusedError, UsageError
from ledger.keyfile import read_private_key, write_private_key
from ledger.signatures import PARALLEL_THRESHOLD
from ledger.store import Ledger, RecordedEntry, Submission, gc_paused
from verify.details import Detail, parse_detail_bytes
from verify.dsse import (
    MAX_ENVELOPE_BYTES,
    Envelope,
    add_signature,
    envelope_for_statement,
    parse_envelope,
    parse_envelope_bytes,
)
from verify.errors import NotCanonicalError
from verify.jcs import parse_json
from verify.keys import Ed25519Signer, encode_public_key

if TYPE_CHECKING:  # (httpx is imported only to talk to a service)
    from ledger.client import RemoteLedger


# -- keys ---------------------------------------------------------------------------------------
@click.group()
def key() -> None:
    """Signing keys."""


@key.command("generate")
@click.option("--out", required=True, metavar="PATH", help="Where to write the private key.")
@json_option
@handle_errors
def key_generate(out: str, as_json: bool) -> None:
    """Write a PKCS#8 PEM private key to PATH (mode 0600) and its public key to PATH.pub."""
    signer = Ed25519Signer.generate()
    write_private_key(Path(out), signer)
    data = {
        "key_id": signer.key_id,
        "public_key": encode_public_key(signer.public_raw),
        "path": out,
    }
    emit(data, as_json, lambda: click.echo(signer.key_id))


# -- init ---------------------------------------------------------------------------------------
def _ledger_signer(key_file: Path) -> Ed25519Signer:
    """The ledger key at PATH, created (0600) if absent."""
    if key_file.exists():
        return read_private_key(key_file)
    signer = Ed25519Signer.generate()
    write_private_key(key_file, signer)
    return signer


@click.command()
@ledger_option
@key_file_option
@click.option("--genesis", metavar="ENVELOPE", help="A genesis envelope the admins signed.")
@click.option("--origin", metavar="ORIGIN", help="Log origin, e.g. example.org/rsp-ledger.")
@click.option("--admin", "admins", multiple=True, metavar="NAME", help="Admin principal (repeat).")
@click.option(
    "--admin-key", "admin_keys", multiple=True, metavar="FILE", help="Admin private key (repeat)."
)
@click.option(
    "--time-source", type=click.Choice(["system", "asserted"]), default="system", show_default=True
)
@click.option("--recorded-at", metavar="TIME", help="recorded_at of entry 0 (asserted ledgers).")
@json_option
@handle_errors
def init(
    ledger_url: str | None,
    ledger_key_file: str | None,
    genesis: str | None,
    origin: str | None,
    admins: tuple[str, ...],
    admin_keys: tuple[str, ...],
    time_source: str,
    recorded_at: str | None,
    as_json: bool,
) -> None:
    """Create the ledger from a genesis, and print the ledger's verifier key (vkey)."""
    when = parse_time_option(recorded_at)
    if genesis is not None:
        if origin or admins or admin_keys:
            fail("give either --genesis or --origin/--admin/--admin-key, not both", EXIT_USAGE)
        envelope = parse_envelope_bytes(read_input(genesis))
    else:
        if not origin or not admins:
            fail(
                "expected --genesis ENVELOPE, or --origin with --admin and --admin-key", EXIT_USAGE
            )
        if len(admins) != len(admin_keys):
            fail(
                f"expected one --admin-key per --admin, found {len(admins)} admins and "
                f"{len(admin_keys)} keys",
                EXIT_USAGE,
            )
        signers = [read_private_key(Path(p)) for p in admin_keys]
        issued = when or datetime.now(UTC)
        statement = {
            "type": "ledger_genesis",
            "id": f"genesis-{uuid.uuid4()}",
            "issued_at": format_time(issued),
            "issuer": admins[0],
            "origin": origin,
            "time_source": time_source,
            "admins": [
                {"principal": a, "public_key": encode_public_key(s.public_raw)}
                for a, s in zip(admins, signers, strict=True)
            ],
        }
        envelope = parse_envelope(envelope_for_statement(statement, signers[0]))
        for s in signers[1:]:
            envelope = add_signature(envelope, s)
    url = resolve_ledger_url(ledger_url)
    key_path = resolve_key_file(ledger_key_file, url)
    if key_path is None:
        raise UsageError("expected --ledger-key-file (or $RSP_LEDGER_KEY_FILE) for this ledger")
    with Ledger(url, signer=_ledger_signer(key_path)) as ledger:
        entry = ledger.initialize(envelope, recorded_at=when)
        vkey = ledger.vkey
    data = {"vkey": vkey, "ledger_key_file": str(key_path), "entry": entry.to_json()}
    emit(data, as_json, lambda: click.echo(vkey))


# -- sign ---------------------------------------------------------------------------------------
@click.command()
@click.argument("file", metavar="FILE")
@click.option(
    "--key", "key_path", required=True, metavar="KEYFILE", help="Private key to sign with."
)
@click.option("--out", metavar="OUT", help="Write the envelope here (default: stdout).")
@handle_errors
def sign(file: str, key_path: str, out: str | None) -> None:
    """A statement becomes an envelope; an envelope gains a signature."""
    signer = read_private_key(Path(key_path))
    try:
        obj = parse_json(read_input(file))
    except NotCanonicalError as e:
        fail(f"{file}: {e}", EXIT_USAGE)
    if isinstance(obj, dict) and "payloadType" in obj:
        envelope = add_signature(parse_envelope(obj), signer)
        result: dict[str, Any] = envelope.to_json()
    else:
        if not isinstance(obj, dict):
            fail(f"{file}: expected a statement or an envelope object, found {type(obj).__name__}")
        result = envelope_for_statement(obj, signer)
    text = json.dumps(result, indent=2) + "\n"
    if out:
        Path(out).write_text(text)
    else:
        click.echo(text, nl=False)


# -- submit -------------------------------------------------------------------------------------
# A JSON-lines file of at least this many envelopes is parsed while its signatures are checked.
STREAM_THRESHOLD = PARALLEL_THRESHOLD
STREAM_CHUNK = 2048


def _batch_lines(data: bytes) -> list[bytes]:
    """The non-blank lines of a JSON-lines batch; [] when `data` is one envelope."""
    if len(data) <= MAX_ENVELOPE_BYTES:
        try:
            parse_json(data)
            return []  # one JSON value: a single envelope, in any spelling
        except NotCanonicalError:
            pass
    return [ln for ln in data.splitlines() if ln.strip()]


def _parse_envelopes(
    data: bytes,
    lines: list[bytes],
    on_chunk: Callable[[list[Envelope]], None] | None = None,
) -> list[Envelope]:
    """One envelope (any JSON spelling), or JSON lines of envelopes (a batch import), handed
    to `on_chunk` as they are parsed, STREAM_CHUNK at a time."""
    if len(lines) <= 1:
        return [parse_envelope_bytes(data)]
    out: list[Envelope] = []
    done = 0
    for i, line in enumerate(lines):
        try:
            out.append(parse_envelope_bytes(line))
        except VerificationError as e:
            raise EnvelopeRefusedError(f"line {i + 1}: {e}", line=i + 1) from e
        if on_chunk is not None and len(out) - done == STREAM_CHUNK:
            on_chunk(out[done:])
            done = len(out)
    if on_chunk is not None and done < len(out):
        on_chunk(out[done:])
    return out


def _read_details(path: str | None) -> dict[str, Detail]:
    if path is None:
        return {}
    details: dict[str, Detail] = {}
    for i, line in enumerate(ln for ln in read_input(path).splitlines() if ln.strip()):
        d = parse_detail_bytes(line)
        if d.statement in details:
            raise EnvelopeRefusedError(f"details line {i + 1}: statement {d.statement!r} twice")
        details[d.statement] = d
    return details


def _print_entry(e: RecordedEntry) -> None:
    note = " (already recorded)" if e.existing else ""
    click.echo(
        f"seq {e.seq}  recorded_at {format_time(e.recorded_at)}  leaf {e.leaf_hash.hex()}  "
        f"{e.type} {e.statement_id}{note}"
    )


@click.command()
@click.argument("envelope", metavar="ENVELOPE")
@click.option("--details", "details_path", metavar="FILE", help="Salted details for the statement.")
@click.option("--recorded-at", metavar="TIME", help="recorded_at (asserted-time ledgers only).")
@click.option(
    "--check/--no-check",
    "check_policy",
    default=True,
    show_default=True,
    help="Warn when a recorded statement is not compliant (replays the log).",
)
@ledger_option
@key_file_option
@json_option
@handle_errors
@gc_paused()  # a batch import holds every envelope it parsed until the command ends
def submit(
    envelope: str,
    details_path: str | None,
    recorded_at: str | None,
    check_policy: bool,
    ledger_url: str | None,
    ledger_key_file: str | None,
    as_json: bool,
) -> None:
    """Record an envelope (or a JSON-lines file of envelopes) and print the entry."""
    when = parse_time_option(recorded_at)
    raw = read_input(envelope)
    lines = _batch_lines(raw)
    large = len(lines) >= STREAM_THRESHOLD
    # A small input is parsed before the ledger is opened, so its errors come first; a large
    # import is parsed once the ledger is open, while worker processes check its signatures.
    envelopes = [] if large else _parse_envelopes(raw, lines)
    details = _read_details(details_path)
    with open_ledger(ledger_url, ledger_key_file, need_key=True) as ledger:
        if ledger.time_source == "asserted" and when is None:
            fail("--recorded-at is required: this ledger's time source is asserted", EXIT_USAGE)
        local = ledger if isinstance(ledger, Ledger) else None
        stream = local.signature_stream() if large and local is not None else None
        try:
            if large:
                envelopes = _parse_envelopes(raw, lines, stream.add if stream else None)
            unknown = set(details) - {e.statement.id for e in envelopes}
            if unknown:
                raise EnvelopeRefusedError(
                    f"details for statement {sorted(unknown)[0]!r}, which is not in {envelope}",
                    check="acceptance.details",
                )
            subs = [Submission(e, details.get(e.statement.id)) for e in envelopes]
            if local is not None:
                # A large import is judged as it is written (the log so far is replayed now);
                # a small one after it is committed, so that a refusal costs no replay.
                judge = JudgedAsRecorded(local, envelopes, during=large) if check_policy else None
                recorded = local.submit_batch(
                    subs,
                    recorded_at=when,
                    checks=stream.checks if stream is not None else None,
                    on_appended=judge.judge if judge is not None and large else None,
                )
                judged = judge.verdicts(recorded) if judge is not None else []
            else:  # a service: it judged them as it recorded them
                remote = cast("RemoteLedger", ledger)
                recorded = remote.submit_batch(subs, recorded_at=when)
                judged = remote.verdicts_of_new(recorded) if check_policy else []
        finally:
            if stream is not None:
                stream.close()
    warn(judged)
    if len(envelopes) == 1:
        verdict = judged[0].to_json() if judged else None
        emit(
            {**recorded[0].to_json(), "compliance": verdict},
            as_json,
            lambda: _print_entry(recorded[0]),
        )
    else:
        new = sum(1 for r in recorded if not r.existing)
        # A batch's JSON document (an object per entry) is only built when it is asked for.
        document = {
            "entries": [r.to_json() for r in recorded] if as_json else [],
            "recorded": new,
            "compliance": [v.to_json() for v in judged],
        }
        emit(
            document,
            as_json,
            lambda: click.echo(
                f"recorded {new} of {len(recorded)} envelopes"
                + (f", seq {recorded[0].seq}..{recorded[-1].seq}" if recorded else "")
            ),
        )


# -- reading ------------------------------------------------------------------------------------
@click.command("log")
@click.option("--from", "start", type=click.IntRange(min=0), default=0, help="First seq.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N entries.")
@ledger_option
@json_option
@handle_errors
def log_cmd(start: int, limit: int | None, ledger_url: str | None, as_json: bool) -> None:
    """List recorded entries."""
    with open_ledger(ledger_url) as ledger:
        size = ledger.size()
        stop = size if limit is None else min(size, start + limit)
        rows = []
        for e in ledger.entries(start, stop) if start < stop else []:
            st = e.envelope.statement
            rows.append(
                {
                    "seq": e.seq,
                    "recorded_at": format_time(e.recorded_at),
                    "type": st.type,
                    "statement": st.id,
                    "issuer": st.issuer,
                    "model": statement_model(st),
                }
            )

    def human() -> None:
        for r in rows:
            model = f"  [{r['model']}]" if r["model"] else ""
            click.echo(
                f"{r['seq']:>6}  {r['recorded_at']}  {r['type']:<26} {r['statement']}  "
                f"by {r['issuer']}{model}"
            )

    emit({"size": size, "entries": rows}, as_json, human)


@click.command()
@click.argument("statement_id")
@ledger_option
@json_option
@handle_errors
def show(statement_id: str, ledger_url: str | None, as_json: bool) -> None:
    """Show one statement, its entry, its signers and any disclosed details."""
    with open_ledger(ledger_url) as ledger:
        e = ledger.statement_entry(statement_id)
        detail = ledger.detail(statement_id)
    statement = json.loads(e.envelope.payload)
    data = {
        "seq": e.seq,
        "recorded_at": format_time(e.recorded_at),
        "statement": statement,
        "signatures": [s.to_json() for s in e.envelope.signatures],
        "details": detail.to_json() if detail else None,
    }

    def human() -> None:
        click.echo(f"seq {e.seq}, recorded {data['recorded_at']}, signed by key(s):")
        for s in e.envelope.signatures:
            click.echo(f"  {s.keyid}")
        click.echo(json.dumps(statement, indent=2, ensure_ascii=False))
        if detail:
            click.echo("details:")
            click.echo(json.dumps(detail.details, indent=2, ensure_ascii=False))

    emit(data, as_json, human)
