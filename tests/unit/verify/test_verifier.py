"""The verifier's checks one by one (verify/verifier.py), on bundles made from the golden valid
bundle by a tamperer who holds the ledger key (tests/vectors/bundles/make_bundles.py), and its
parallel path against its serial one on a bundle of the benchmark's mix."""

from __future__ import annotations

import base64
import json
import zipfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.bench_verify import LEDGER_KEY as BENCH_LEDGER_KEY
from bench.bench_verify import ORIGIN as BENCH_ORIGIN
from bench.bench_verify import build_bundle, seeded_signer
from bench.bench_verify import vkey as bench_vkey
from tests.vectors.bundles.make_bundles import (
    LEDGER_KEY,
    ORDER,
    OTHER_KEY,
    checkpoint_for,
    read_parts,
    write_bundle_parts,
    write_zip,
)
from verify.bundle import (
    CHECKPOINT,
    DETAILS,
    ENTRIES,
    MANIFEST,
    MANIFEST_SIG,
    file_digest,
    write_bundle,
)
from verify.entry import make_entry, parse_entry
from verify.keys import Ed25519Signer
from verify.merkle import leaf_hash, root_of
from verify.note import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    Vkey,
    append_signatures,
    cosign_checkpoint,
    format_vkey,
    sign_checkpoint,
)
from verify.report import MAX_PROBLEMS, VerifyReport
from verify.verifier import VerifierUsageError, VerifyOptions, verify_bundle

BUNDLES = Path(__file__).resolve().parents[2] / "vectors" / "bundles"
VALID = BUNDLES / "valid.zip"
VKEY = Vkey.parse((BUNDLES / "ledger.vkey").read_text().strip())
PARTS = read_parts(VALID)


def check(path: Path, **options: Any) -> VerifyReport:
    return verify_bundle(path, VKEY, VerifyOptions(**options))


def problems(report: VerifyReport) -> list[tuple[str, int | None]]:
    return [(p.check, p.seq) for p in report.problems]


def members_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def write_signed(path: Path, members: dict[str, bytes], **manifest_changes: Any) -> Path:
    """Members as given, and a manifest (changed as asked) signed by the ledger key."""
    digested = {n: d for n, d in members.items() if n in (ENTRIES, CHECKPOINT, DETAILS)}
    manifest = replace(
        PARTS.manifest,
        files={n: file_digest(d) for n, d in digested.items()},
        **manifest_changes,
    )
    body = manifest.to_bytes()
    out = {**digested, MANIFEST: body, MANIFEST_SIG: base64.b64encode(LEDGER_KEY.sign(body))}
    write_zip(path, [(n, out[n]) for n in ORDER if n in out])
    return path


# -- usage ------------------------------------------------------------------------------------


def witness(name: str) -> tuple[Ed25519Signer, Vkey]:
    signer = seeded_signer(f"witness {name}")
    return signer, Vkey.parse(format_vkey(name, signer.public_raw, SIG_COSIGNATURE_V1))


def test_keys_and_thresholds_are_usage_errors() -> None:
    _, w = witness("w1")
    with pytest.raises(VerifierUsageError, match="type 0x01"):
        verify_bundle(VALID, w)
    with pytest.raises(VerifierUsageError, match="cosignature/v1"):
        check(VALID, witnesses=(VKEY,))
    with pytest.raises(VerifierUsageError, match="from 1 to 1"):
        check(VALID, witnesses=(w,), witness_threshold=2)
    with pytest.raises(VerifierUsageError, match="from 1 to 1"):
        check(VALID, witnesses=(w,), witness_threshold=0)
    with pytest.raises(VerifierUsageError, match="needs at least one --witness"):
        check(VALID, witness_threshold=1)


# -- manifest and checkpoint ------------------------------------------------------------------


def test_the_manifest_must_name_the_trusted_key(tmp_path: Path) -> None:
    other = format_vkey(PARTS.origin, OTHER_KEY.public_raw)
    bundle = write_signed(tmp_path / "b.zip", members_of(VALID), ledger_key=other)
    assert problems(check(bundle)) == [("manifest.ledger_key", None)]


def test_the_manifest_must_list_exactly_the_members(tmp_path: Path) -> None:
    members = members_of(VALID)
    listed_absent = {n: d for n, d in members.items() if n != DETAILS}
    manifest = replace(
        PARTS.manifest,
        files={n: file_digest(members[n]) for n in (ENTRIES, CHECKPOINT, DETAILS)},
    )
    body = manifest.to_bytes()
    listed_absent[MANIFEST] = body
    listed_absent[MANIFEST_SIG] = base64.b64encode(LEDGER_KEY.sign(body))
    write_zip(tmp_path / "c.zip", [(n, listed_absent[n]) for n in ORDER if n in listed_absent])
    found = problems(check(tmp_path / "c.zip"))
    assert ("manifest.files", None) in found
    # ... and the details it withholds make the manifest's "not redacted" false.
    assert ("manifest.redacted", None) in found


def test_redacted_must_say_the_truth(tmp_path: Path) -> None:
    members = members_of(VALID)
    lying = write_signed(tmp_path / "a.zip", members, redacted=True)
    assert problems(check(lying)) == [("manifest.redacted", None)]
    without = {n: d for n, d in members.items() if n != DETAILS}
    hiding = write_signed(tmp_path / "b.zip", without, redacted=False)
    assert problems(check(hiding)) == [("manifest.redacted", None)]
    honest = write_signed(tmp_path / "c.zip", without, redacted=True)
    report = check(honest)
    assert report.intact
    assert report.redaction.withheld_count == 4
    assert report.redaction.committed == 4


def test_the_manifest_must_agree_with_the_genesis(tmp_path: Path) -> None:
    bundle = write_signed(tmp_path / "b.zip", members_of(VALID), time_source="system")
    assert problems(check(bundle)) == [("manifest.time_source", 0)]


def test_witnesses(tmp_path: Path) -> None:
    (s1, w1), (s2, w2), (_, w3), (s4, _) = (witness(n) for n in ("w1", "w2", "w3", "w4"))
    note = PARTS.checkpoint
    cosigned = append_signatures(
        note,
        [
            cosign_checkpoint(note, "w1", s1, 1_700_000_000),
            cosign_checkpoint(note, "w2", s2, 1_700_000_001),
            cosign_checkpoint(note, "w4", s4, 1_700_000_002),  # unknown: ignored
        ],
    )
    bundle = write_bundle_parts(tmp_path / "b.zip", PARTS, checkpoint=cosigned)
    ok = check(bundle, witnesses=(w1, w2))
    assert ok.intact
    assert ok.checked.witnesses == (w1.label, w2.label)
    assert check(bundle, witnesses=(w1, w2, w3), witness_threshold=2).intact
    short = check(bundle, witnesses=(w1, w2, w3))
    assert problems(short) == [("checkpoint.witnesses", None)]
    assert "at least 3 of 3" in short.problems[0].message
    assert short.verdicts == ()
    # A known witness whose cosignature does not verify rejects the checkpoint.
    line = cosign_checkpoint(note, "w2", s2, 1_700_000_001)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[-1] ^= 0x01
    bad = cosigned.replace(line, f"— w2 {base64.b64encode(bytes(raw)).decode()}\n")
    assert bad != cosigned
    write_bundle_parts(tmp_path / "c.zip", PARTS, checkpoint=bad)
    assert problems(check(tmp_path / "c.zip", witnesses=(w1, w2), witness_threshold=1)) == [
        ("checkpoint.witnesses", None)
    ]


def test_since(tmp_path: Path) -> None:
    old = checkpoint_for(PARTS.origin, PARTS.leaves[:10])
    report = check(VALID, since=old)
    assert report.intact and report.checked.since_size == 10
    forged_root = sign_checkpoint(
        Checkpoint(PARTS.origin, 10, root_of([leaf_hash(x) for x in PARTS.leaves[1:11]])),
        PARTS.origin,
        LEDGER_KEY,
    )
    assert problems(check(VALID, since=forged_root)) == [("since.root", None)]
    other_key = checkpoint_for(PARTS.origin, PARTS.leaves[:10], OTHER_KEY)
    assert problems(check(VALID, since=other_key)) == [("since.checkpoint", None)]
    assert problems(check(VALID, since="not a checkpoint")) == [("since.checkpoint", None)]


# -- entries ----------------------------------------------------------------------------------


def test_entry_lines(tmp_path: Path) -> None:
    leaves = PARTS.leaves
    members = members_of(VALID)
    no_newline = {**members, ENTRIES: members[ENTRIES][:-1]}
    found = problems(check(write_signed(tmp_path / "a.zip", no_newline)))
    assert found == [("entries.format", 21)]
    spaced = [*leaves[:5], leaves[5].replace(b'"seq":5', b'"seq": 5'), *leaves[6:]]
    found = problems(
        check(write_bundle_parts(tmp_path / "b.zip", PARTS, leaves=spaced, resign_checkpoint=True))
    )
    assert found[0] == ("entries.format", 5)
    blank = [*leaves[:5], b"", *leaves[5:]]
    found = problems(
        check(write_bundle_parts(tmp_path / "c.zip", PARTS, leaves=blank, resign_checkpoint=True))
    )
    assert found[0] == ("entries.format", 5)


def test_recorded_at_never_decreases(tmp_path: Path) -> None:
    e = parse_entry(PARTS.leaves[15])
    leaves = list(PARTS.leaves)
    leaves[15] = make_entry(15, e.recorded_at - timedelta(days=30), e.envelope).leaf
    write_bundle_parts(tmp_path / "b.zip", PARTS, leaves=leaves, resign_checkpoint=True)
    found = problems(check(tmp_path / "b.zip"))
    assert ("entries.recorded_at", 15) in found


def test_problems_are_capped(tmp_path: Path) -> None:
    leaves = [*PARTS.leaves, *([b"{}"] * (MAX_PROBLEMS + 50))]
    write_bundle_parts(tmp_path / "b.zip", PARTS, leaves=leaves, resign_checkpoint=True)
    report = check(tmp_path / "b.zip")
    assert len(report.problems) == MAX_PROBLEMS
    assert report.omitted_problems > 0
    listed = report.to_json()["integrity"]["problems"]
    assert len(listed) == MAX_PROBLEMS + 1
    assert listed[-1]["check"] == "report.omitted"


# -- details ----------------------------------------------------------------------------------


def test_detail_lines(tmp_path: Path) -> None:
    details = PARTS.details
    unknown = details[0].replace(b"finding-claude-demo-CBRN-3", b"no-such-statement")
    write_bundle_parts(tmp_path / "a.zip", PARTS, details=[*details, unknown])
    assert problems(check(tmp_path / "a.zip")) == [("details.statement", None)]
    write_bundle_parts(tmp_path / "b.zip", PARTS, details=[*details, details[0]])
    assert problems(check(tmp_path / "b.zip")) == [("details.statement", 10)]
    spaced = details[0].replace(b'":', b'": ', 1)
    write_bundle_parts(tmp_path / "c.zip", PARTS, details=[spaced, *details[1:]])
    found = problems(check(tmp_path / "c.zip"))
    assert found[0] == ("details.format", None)


# -- the report -------------------------------------------------------------------------------


def test_report_json_is_spec_8(tmp_path: Path) -> None:
    report = check(VALID)
    obj = report.to_json()
    assert list(obj) == ["format", "bundle", "integrity", "verdicts", "summary"]
    assert obj["format"] == "rsp-ledger.verify-report/v1"
    assert list(obj["bundle"]) == ["origin", "tree_size", "root", "redacted", "time_source"]
    assert list(obj["integrity"]) == ["ok", "problems"]
    assert list(obj["summary"]) == [
        "entries",
        "compliant",
        "noncompliant",
        "invalidated",
        "indeterminate",
    ]
    for v in obj["verdicts"]:
        assert list(v) == [
            "seq",
            "statement",
            "type",
            "model",
            "policy",
            "verdict",
            "failed",
            "invalidated_by",
        ]
    json.dumps(obj)  # plain JSON


def test_progress_is_reported_to_the_end() -> None:
    calls: list[tuple[int, int]] = []
    check(VALID, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (22, 22)


# -- the parallel path ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Past the first key rotation of the benchmark's mix (about entry 11,500), so that some
    # signatures are by a key introduced after their chunk was sent (the deferred path).
    path = tmp_path_factory.mktemp("big") / "bundle.zip"
    build_bundle(14_000, path)
    return path


def test_parallel_and_serial_give_the_same_report(big_bundle: Path) -> None:
    vkey = Vkey.parse(bench_vkey())
    serial = verify_bundle(big_bundle, vkey, VerifyOptions(workers=1))
    parallel = verify_bundle(big_bundle, vkey, VerifyOptions(workers=2))
    assert serial.intact and parallel.intact
    assert serial.to_json() == parallel.to_json()
    assert serial.checked == parallel.checked
    assert serial.summary()["noncompliant"] > 0  # the mix has one decision in fifty unapproved


def test_a_bad_signature_by_a_rotated_in_key_is_caught_on_both_paths(
    big_bundle: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(big_bundle) as z:
        leaves = z.read(ENTRIES).split(b"\n")[:-1]
    new_key = seeded_signer("eval#1").key_id
    target = next(
        i for i, leaf in enumerate(leaves) if new_key.encode() in leaf and b"key_added" not in leaf
    )
    obj = json.loads(leaves[target])
    sig = bytearray(base64.b64decode(obj["envelope"]["signatures"][0]["sig"]))
    sig[5] ^= 0x40
    obj["envelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    leaves[target] = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    ledger = seeded_signer(BENCH_LEDGER_KEY)
    root = root_of([leaf_hash(x) for x in leaves])
    out = tmp_path / "tampered.zip"
    with out.open("wb") as f:
        write_bundle(
            f,
            origin=BENCH_ORIGIN,
            tree_size=len(leaves),
            root=root,
            ledger_key=bench_vkey(),
            time_source="asserted",
            created_at=parse_entry(leaves[0]).recorded_at,
            redacted=False,
            entries=leaves,
            checkpoint=sign_checkpoint(
                Checkpoint(BENCH_ORIGIN, len(leaves), root), BENCH_ORIGIN, ledger
            ),
            details=None,
            signer=ledger,
        )
    vkey = Vkey.parse(bench_vkey())
    for workers in (1, 2):
        report = verify_bundle(out, vkey, VerifyOptions(workers=workers))
        assert ("acceptance.signature", target) in problems(report), workers
        assert report.verdicts == ()
