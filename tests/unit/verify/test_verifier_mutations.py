"""Random tampering (hypothesis): no mutation of a valid bundle is ever reported intact, and the
verifier always answers with a report, whatever the bytes.

- contents: any member's bytes changed, by anyone without the ledger key;
- contents, by a tamperer who re-signs the manifest with the ledger key: entries and details
  changed (the checkpoint, signed before, stays the genuine one);
- members: dropped, repeated, renamed, added;
- the raw ZIP bytes: a report of "intact" is allowed only when every member still reads back
  exactly as before (the byte hit a timestamp, say, not the content).
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.vectors.bundles.make_bundles import ORDER, read_parts, write_bundle_parts, write_zip
from verify.bundle import CHECKPOINT, DETAILS, ENTRIES, MANIFEST, MANIFEST_SIG
from verify.note import Vkey
from verify.report import VerifyReport
from verify.verifier import VerifyOptions, verify_bundle

BUNDLES = Path(__file__).resolve().parents[2] / "vectors" / "bundles"
VKEY = Vkey.parse((BUNDLES / "ledger.vkey").read_text().strip())
SOURCES = ("valid.zip", "valid_redacted.zip")
MEMBERS = {
    name: {i.filename: z.read(i) for i in z.infolist()}
    for name in SOURCES
    for z in [zipfile.ZipFile(BUNDLES / name)]
}
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def verify(path: Path) -> VerifyReport:
    return verify_bundle(path, VKEY, VerifyOptions(workers=1))


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "append", "swap"]))
        if not out:
            out.extend(b"x")
        i = draw(st.integers(0, len(out) - 1))
        if op == "flip":
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete":
            del out[i : i + draw(st.integers(1, 8))]
        elif op == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "truncate":
            del out[i:]
        elif op == "append":
            out.extend(draw(st.binary(min_size=1, max_size=4)))
        else:
            j = draw(st.integers(0, len(out) - 1))
            out[i], out[j] = out[j], out[i]
    if bytes(out) == data:
        out.append(0x20)
    return bytes(out)


@SETTINGS
@given(st.sampled_from(SOURCES), st.data())
def test_changed_contents_are_never_intact(
    tmp_path: Path, source: str, data: st.DataObject
) -> None:
    members = dict(MEMBERS[source])
    name = data.draw(st.sampled_from(sorted(members)))
    members[name] = data.draw(mutated(members[name]))
    path = tmp_path / "m.zip"
    write_zip(path, [(n, members[n]) for n in ORDER if n in members])
    report = verify(path)
    assert not report.intact, (name, members[name][:200])
    assert report.verdicts == ()
    assert report.exit_code == 3


@SETTINGS
@given(st.sampled_from(SOURCES), st.sampled_from([ENTRIES, DETAILS]), st.data())
def test_contents_re_signed_by_the_ledger_key_are_never_intact(
    tmp_path: Path, source: str, name: str, data: st.DataObject
) -> None:
    parts = read_parts(BUNDLES / source)
    if name == DETAILS and not parts.details:
        name = ENTRIES
    if name == ENTRIES:
        text = data.draw(mutated(b"".join(x + b"\n" for x in parts.leaves)))
        leaves = text.split(b"\n")
        if leaves[-1] == b"":
            leaves.pop()
        # Re-splitting can undo a mutation (a dropped final newline): then nothing changed.
        assume(leaves != list(parts.leaves))
        write_bundle_parts(tmp_path / "m.zip", parts, leaves=leaves)
    else:
        text = data.draw(mutated(b"".join(parts.details)))
        details = text.splitlines(keepends=True)
        assume(b"".join(details) != b"".join(parts.details))
        write_bundle_parts(tmp_path / "m.zip", parts, details=details)
    report = verify(tmp_path / "m.zip")
    assert not report.intact
    assert report.exit_code == 3


@SETTINGS
@given(st.sampled_from(SOURCES), st.data())
def test_changed_member_sets_are_never_intact(
    tmp_path: Path, source: str, data: st.DataObject
) -> None:
    members = list(MEMBERS[source].items())
    op = data.draw(st.sampled_from(["drop", "repeat", "rename", "add"]))
    i = data.draw(st.integers(0, len(members) - 1))
    if op == "drop":
        del members[i]
    elif op == "repeat":
        members.insert(data.draw(st.integers(0, len(members))), members[i])
    elif op == "rename":
        new = data.draw(
            st.sampled_from(
                ["Manifest.json", "entries.jsonl ", "./checkpoint", "details.json", "x"]
            )
        )
        members[i] = (new, members[i][1])
    else:
        members.append((data.draw(st.sampled_from(["notes.txt", "entries/", "sig"])), b"{}"))
    path = tmp_path / "m.zip"
    with (
        warnings.catch_warnings(),
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z,
    ):
        warnings.simplefilter("ignore")  # zipfile warns of the repeated names we write
        for n, d in members:
            z.writestr(zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0)), d)
    report = verify(path)
    assert not report.intact
    assert report.exit_code == 3


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(SOURCES), st.data())
def test_raw_zip_bytes(tmp_path: Path, source: str, data: st.DataObject) -> None:
    original = (BUNDLES / source).read_bytes()
    path = tmp_path / "m.zip"
    path.write_bytes(data.draw(mutated(original)))
    report = verify(path)  # never raises, whatever the bytes
    if report.intact:
        with zipfile.ZipFile(path) as z:
            contents = {i.filename: z.read(i) for i in z.infolist()}
        assert contents == MEMBERS[source]
    else:
        assert report.exit_code == 3


def test_the_members_named_in_this_module_are_the_bundles() -> None:
    assert set(MEMBERS["valid.zip"]) == {MANIFEST, MANIFEST_SIG, ENTRIES, CHECKPOINT, DETAILS}
    assert set(MEMBERS["valid_redacted.zip"]) == {MANIFEST, MANIFEST_SIG, ENTRIES, CHECKPOINT}
