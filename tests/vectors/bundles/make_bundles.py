"""Make the golden bundles of tests/vectors/bundles/: one valid bundle of the demo history (SPEC §6),
its redacted twin, and one bundle per way of tampering with it, each named after what it breaks.

    .venv/bin/python tests/vectors/bundles/make_bundles.py [OUT_DIR]

Reproducible: every key comes from a fixed seed (the principals of `cli.demo.build_demo_history`,
the detail salts and the ledger key), times are the demo's asserted times, `created_at` and the ZIP
timestamps are fixed. Regenerating gives the same member bytes (the deflate bytes depend on zlib).

The tamperer. The manifest and the checkpoint are signed by the ledger key, so a bundle changed in
transit by anyone else fails `manifest.digest` or `manifest.signature` at once (two bundles show
that). To show that every deeper check catches its own kind of tampering, most bundles here are
made by a tamperer who holds the ledger key: they re-sign the manifest (and, where said, a new
checkpoint), which is what a dishonest or compromised operator could do. What still catches them
are the signatures of the statements' signers, the acceptance rules, the Merkle root of an older
checkpoint (the genuine one, or one the auditor kept: `--since`), and the details' digests.

`expected.json` maps each bundle to the exit code and the check that must be reported (with its
seq where there is one); `ledger.vkey` is the trusted key; `checkpoint_22.txt` is the genuine
checkpoint of the full demo log, for `--since`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import sys
import tempfile
import zipfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cli.demo import build_demo_history, load_demo_policy
from domain.ids import format_time
from domain.statements import parse_statement
from ledger.export import export_bundle
from ledger.history import HistoryWriter
from ledger.store import Ledger
from verify.bundle import (
    CHECKPOINT,
    DETAILS,
    ENTRIES,
    MANIFEST,
    MANIFEST_SIG,
    Manifest,
    file_digest,
    parse_manifest,
)
from verify.details import Detail, parse_detail_bytes
from verify.dsse import Envelope, envelope_for_statement, parse_envelope
from verify.entry import make_entry, parse_entry
from verify.jcs import canonical, parse_canonical
from verify.keys import Ed25519Signer, encode_public_key
from verify.merkle import leaf_hash, root_of
from verify.note import Checkpoint, sign_checkpoint

HERE = Path(__file__).resolve().parent
CREATED_AT = datetime(2025, 8, 1, 12, 0, tzinfo=UTC)
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
ORDER = (ENTRIES, CHECKPOINT, DETAILS, MANIFEST, MANIFEST_SIG)


def seeded(label: str) -> Ed25519Signer:
    seed = hashlib.sha256(f"rsp-ledger golden bundles: {label}".encode()).digest()
    return Ed25519Signer(Ed25519PrivateKey.from_private_bytes(seed))


LEDGER_KEY = seeded("ledger key")
OTHER_KEY = seeded("another ledger's key")
STRANGER = seeded("a key nobody registered")


@dataclass(frozen=True)
class Parts:
    """A bundle's members, decoded."""

    manifest: Manifest
    leaves: list[bytes]
    checkpoint: str
    details: list[bytes]

    @property
    def origin(self) -> str:
        return self.manifest.origin


def read_parts(path: Path) -> Parts:
    with zipfile.ZipFile(path) as z:
        manifest = parse_manifest(z.read(MANIFEST))
        leaves = z.read(ENTRIES).split(b"\n")[:-1]
        details = z.read(DETAILS).splitlines(keepends=True) if DETAILS in z.namelist() else []
        return Parts(manifest, leaves, z.read(CHECKPOINT).decode(), details)


def write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)


def checkpoint_for(origin: str, leaves: list[bytes], key: Ed25519Signer = LEDGER_KEY) -> str:
    root = root_of([leaf_hash(leaf) for leaf in leaves])
    return sign_checkpoint(Checkpoint(origin, len(leaves), root), origin, key)


def write_bundle_parts(
    path: Path,
    parts: Parts,
    *,
    leaves: list[bytes] | None = None,
    checkpoint: str | None = None,
    details: list[bytes] | None = None,
    resign_checkpoint: bool = False,
    manifest_size_root: tuple[int, bytes] | None = None,
    redacted: bool | None = None,
) -> Path:
    """Write `parts` with some members replaced, the manifest re-signed by the ledger key.

    `resign_checkpoint`: a new checkpoint over the new leaves (tree size and root follow);
    otherwise the manifest keeps the given checkpoint's size and root (or `manifest_size_root`).
    """
    leaves = parts.leaves if leaves is None else leaves
    details = parts.details if details is None else details
    if resign_checkpoint:
        checkpoint = checkpoint_for(parts.origin, leaves)
        size, root = len(leaves), root_of([leaf_hash(leaf) for leaf in leaves])
    else:
        checkpoint = parts.checkpoint if checkpoint is None else checkpoint
        size, root = manifest_size_root or (parts.manifest.tree_size, parts.manifest.root)
    entries = b"".join(leaf + b"\n" for leaf in leaves)
    members = {ENTRIES: entries, CHECKPOINT: checkpoint.encode()}
    if details:
        members[DETAILS] = b"".join(details)
    manifest = replace(
        parts.manifest,
        tree_size=size,
        root=root,
        redacted=parts.manifest.redacted if redacted is None else redacted,
        files={name: file_digest(data) for name, data in members.items()},
    )
    body = manifest.to_bytes()
    members[MANIFEST] = body
    members[MANIFEST_SIG] = base64.b64encode(LEDGER_KEY.sign(body))
    write_zip(path, [(name, members[name]) for name in ORDER if name in members])
    return path


def renumber(leaves: list[bytes]) -> list[bytes]:
    out = []
    for i, leaf in enumerate(leaves):
        e = parse_entry(leaf)
        out.append(make_entry(i, e.recorded_at, e.envelope).leaf)
    return out


def statement_at(parts: Parts, seq: int) -> dict[str, Any]:
    payload = parse_entry(parts.leaves[seq]).envelope.payload
    obj: dict[str, Any] = parse_canonical(payload)
    return obj


def new_leaf(seq: int, at: datetime, statement: dict[str, Any], signer: Ed25519Signer) -> bytes:
    env = parse_envelope(envelope_for_statement(statement, signer))
    return make_entry(seq, at, env).leaf


def last_time(parts: Parts) -> datetime:
    return parse_entry(parts.leaves[-1]).recorded_at


# -- the valid history ------------------------------------------------------------------------


def build_valid(out: Path) -> HistoryWriter:
    """The demo history in a temporary ledger, exported as valid.zip and valid_redacted.zip."""
    counter = itertools.count()

    def generate(cls: type[Ed25519Signer]) -> Ed25519Signer:
        return seeded(f"principal {next(counter)}")

    salts = itertools.count()

    def token_bytes(n: int | None = None) -> bytes:
        return hashlib.sha256(f"salt {next(salts)}".encode()).digest()[: n or 32]

    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(Ed25519Signer, "generate", classmethod(generate)),
        mock.patch.object(secrets, "token_bytes", token_bytes),
    ):
        ledger = Ledger(f"sqlite:///{tmp}/golden.db", signer=LEDGER_KEY)
        try:
            h = build_demo_history(ledger, load_demo_policy())
            export_bundle(ledger, out / "valid.zip", now=CREATED_AT)
            export_bundle(ledger, out / "valid_redacted.zip", redact=True, now=CREATED_AT)
            (out / "checkpoint_22.txt").write_text(ledger.checkpoint(22))
            (out / "ledger.vkey").write_text(ledger.vkey + "\n")
        finally:
            ledger.close()
    # Re-zip the exporter's output with this script's fixed member order and timestamps.
    for name in ("valid.zip", "valid_redacted.zip"):
        with zipfile.ZipFile(out / name) as z:
            members = [(n, z.read(n)) for n in ORDER if n in z.namelist()]
        write_zip(out / name, members)
    return h


# -- the tampered bundles ---------------------------------------------------------------------

Expected = dict[str, Any]


def make_all(out: Path) -> dict[str, Expected]:
    out.mkdir(parents=True, exist_ok=True)
    h = build_valid(out)
    p = read_parts(out / "valid.zip")
    keys = {name: pr.signer for name, pr in h.principals.items()}
    expected: dict[str, Expected] = {
        "valid.zip": {"exit": 1},
        "valid_redacted.zip": {"exit": 1},
    }

    def case(name: str, check: str, seq: int | None = None, **extra: Any) -> Path:
        expected[name] = {"exit": 3, "check": check, "seq": seq, **extra}
        return out / name

    # A payload byte: the model's name in entry 9 (still canonical, still schema-valid).
    e = parse_entry(p.leaves[9])
    payload = e.envelope.payload.replace(b"Claude (demo)", b"Claude (dEmo)")
    assert payload != e.envelope.payload
    env = Envelope(
        e.envelope.payload_type,
        payload,
        e.envelope.signatures,
        parse_statement(parse_canonical(payload)),
    )
    leaves = list(p.leaves)
    leaves[9] = make_entry(9, e.recorded_at, env).leaf
    write_bundle_parts(
        case("payload_byte_changed.zip", "acceptance.signature", 9),
        p,
        leaves=leaves,
        resign_checkpoint=True,
    )

    # recorded_at moved (still in order): the genuine checkpoint's root no longer matches.
    e = parse_entry(p.leaves[15])
    leaves = list(p.leaves)
    leaves[15] = make_entry(15, e.recorded_at + timedelta(hours=1), e.envelope).leaf
    write_bundle_parts(case("recorded_at_changed.zip", "entries.root"), p, leaves=leaves)

    # Two entries swapped, everything re-signed: seq says so.
    leaves = list(p.leaves)
    leaves[15], leaves[16] = leaves[16], leaves[15]
    write_bundle_parts(
        case("entries_swapped.zip", "entries.seq", 15), p, leaves=leaves, resign_checkpoint=True
    )

    # An entry dropped from the middle, everything re-signed: a gap in seq.
    leaves = p.leaves[:12] + p.leaves[13:]
    write_bundle_parts(
        case("entry_dropped_middle.zip", "entries.seq", 12),
        p,
        leaves=leaves,
        resign_checkpoint=True,
    )

    # The last entry dropped and the genuine older checkpoint (size 21) put in: it is not the
    # checkpoint the signed manifest names.
    leaves = p.leaves[:-1]
    write_bundle_parts(
        case("entry_dropped_end_old_checkpoint.zip", "checkpoint.manifest"),
        p,
        leaves=leaves,
        checkpoint=checkpoint_for(p.origin, leaves),
    )

    # The last entry dropped and everything re-signed: a consistent bundle of 21 entries, which
    # the auditor's older checkpoint of size 22 exposes (--since).
    write_bundle_parts(
        case("entry_dropped_from_end.zip", "since.root", since="checkpoint_22.txt"),
        p,
        leaves=p.leaves[:-1],
        resign_checkpoint=True,
    )

    # An entry inserted at seq 12 (a genuinely signed statement), renumbered, manifest re-signed:
    # the genuine checkpoint's root does not match.
    inserted = new_leaf(
        12,
        parse_entry(p.leaves[11]).recorded_at,
        {
            "type": "noncompliance_reported",
            "id": "inserted-report",
            "issued_at": format_time(parse_entry(p.leaves[11]).recorded_at),
            "issuer": "jared",
            "regarding": None,
            "summary": "an entry that was never recorded",
        },
        keys["jared"],
    )
    leaves = renumber([*p.leaves[:12], inserted, *p.leaves[12:]])
    write_bundle_parts(case("entry_inserted.zip", "entries.root"), p, leaves=leaves)

    # A checkpoint whose root was changed under the ledger's signature.
    text, _, sigs = p.checkpoint.partition("\n\n")
    lines = text.split("\n")
    lines[2] = base64.b64encode(hashlib.sha256(b"forged").digest()).decode()
    forged = "\n".join(lines) + "\n\n" + sigs
    write_bundle_parts(case("checkpoint_forged.zip", "checkpoint.signature"), p, checkpoint=forged)

    # A checkpoint of the same log, signed by another key under the same name.
    write_bundle_parts(
        case("checkpoint_other_key.zip", "checkpoint.signature"),
        p,
        checkpoint=checkpoint_for(p.origin, p.leaves, OTHER_KEY),
    )

    # The manifest changed under its signature; the signature changed; a member changed.
    with zipfile.ZipFile(out / "valid.zip") as z:
        members = {n: z.read(n) for n in z.namelist()}
    tampered = dict(members)
    tampered[MANIFEST] = members[MANIFEST].replace(b"2025-08-01", b"2025-08-02")
    assert tampered[MANIFEST] != members[MANIFEST]
    write_zip(
        case("manifest_tampered.zip", "manifest.signature"),
        [(n, tampered[n]) for n in ORDER if n in tampered],
    )
    tampered = dict(members)
    sig = bytearray(base64.b64decode(members[MANIFEST_SIG]))
    sig[10] ^= 0x01
    tampered[MANIFEST_SIG] = base64.b64encode(bytes(sig))
    write_zip(
        case("manifest_signature_tampered.zip", "manifest.signature"),
        [(n, tampered[n]) for n in ORDER if n in tampered],
    )
    tampered = dict(members)
    tampered[ENTRIES] = members[ENTRIES].replace(
        b"2025-05-14T09:09:00Z", b"2025-05-14T09:09:01Z", 1
    )
    assert tampered[ENTRIES] != members[ENTRIES]
    write_zip(
        case("file_digest_mismatch.zip", "manifest.digest"),
        [(n, tampered[n]) for n in ORDER if n in tampered],
    )

    at = last_time(p) + timedelta(days=1)

    def appended(name: str, check: str, extra: list[tuple[dict[str, Any], Ed25519Signer]]) -> None:
        leaves = list(p.leaves)
        t = at
        for statement, signer in extra:
            statement.setdefault("issued_at", format_time(t))
            leaves.append(new_leaf(len(leaves), t, statement, signer))
            t += timedelta(minutes=1)
        write_bundle_parts(
            case(name, check, len(leaves) - 1), p, leaves=leaves, resign_checkpoint=True
        )

    finding = {
        "type": "capability_finding",
        "model": "claude-demo",
        "threshold": "CBRN-3",
        "assessment": "preliminary",
        "outcome": "ruled_out",
        "effective_compute": 6.0e25,
        "evaluations": [],
    }
    appended(
        "signed_by_unregistered_key.zip",
        "acceptance.signature",
        [({**finding, "id": "finding-by-stranger", "issuer": "frontier-red-team"}, STRANGER)],
    )
    red_team = keys["frontier-red-team"]
    appended(
        "signed_by_revoked_key.zip",
        "acceptance.signature",
        [
            (
                {
                    "type": "key_revoked",
                    "id": "revoke-red-team-key",
                    "issuer": "alice",
                    "key_id": red_team.key_id,
                    "reason": "retired",
                },
                keys["alice"],
            ),
            ({**finding, "id": "finding-by-revoked-key", "issuer": "frontier-red-team"}, red_team),
        ],
    )
    appended(
        "principal_registered_by_non_admin.zip",
        "acceptance.authorisation",
        [
            (
                {
                    "type": "principal_registered",
                    "id": "register-mallory",
                    "issuer": "dario",
                    "principal": "mallory",
                    "roles": ["ceo"],
                    "public_keys": [encode_public_key(STRANGER.public_raw)],
                },
                keys["dario"],
            )
        ],
    )
    appended(
        "duplicate_statement_id.zip",
        "acceptance.unique_id",
        [
            (
                {**finding, "id": "finding-claude-demo-CBRN-3", "issuer": "frontier-red-team"},
                red_team,
            )
        ],
    )

    # No genesis: entry 0 dropped, the rest renumbered, everything re-signed.
    write_bundle_parts(
        case("genesis_missing.zip", "acceptance.genesis", 0),
        p,
        leaves=renumber(p.leaves[1:]),
        resign_checkpoint=True,
    )

    # A disclosed detail changed, the manifest re-signed: it no longer matches its digest.
    detail = parse_detail_bytes(p.details[0].rstrip(b"\n"))
    changed = Detail(detail.statement, detail.salt, {**detail.details, "score": 0.99}, b"")
    changed_line = canonical(changed.to_json()) + b"\n"
    write_bundle_parts(
        case("detail_digest_mismatch.zip", "details.digest", 10),
        p,
        details=[changed_line, *p.details[1:]],
    )

    # ZIP-level: truncated, an extra member, a member twice, a bomb.
    data = (out / "valid.zip").read_bytes()
    case("zip_truncated.zip", "bundle.read").write_bytes(data[: len(data) // 2])
    write_zip(
        case("zip_extra_member.zip", "bundle.members"),
        [(n, members[n]) for n in ORDER if n in members] + [("notes.txt", b"hello\n")],
    )
    with (
        mock.patch("warnings.warn"),  # zipfile warns about the duplicate name
        zipfile.ZipFile(case("zip_duplicate_member.zip", "bundle.members"), "w") as z,
    ):
        for n in ORDER:
            if n in members:
                z.writestr(zipfile.ZipInfo(n, date_time=FIXED_DATE), members[n])
        z.writestr(zipfile.ZipInfo(ENTRIES, date_time=FIXED_DATE), members[ENTRIES])
    bomb = dict(members)
    bomb[DETAILS] = b"\0" * (64 << 20)  # 64 MiB of zeros deflate to about 64 KiB
    write_zip(case("member_bomb.zip", "bundle.limits"), [(n, bomb[n]) for n in ORDER if n in bomb])
    return expected


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else HERE
    expected = make_all(out)
    (out / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(expected)} bundles to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
