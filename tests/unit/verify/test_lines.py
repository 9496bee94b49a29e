"""The bulk line checker (verify/_lines.py) accepts exactly the entries `verify.entry.parse_entry`
accepts, once the main process has typed the statement, and checks signatures like
`verify.dsse.verify_envelope_signatures`."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import VerificationError
from domain.statements import parse_statement
from verify._lines import GoodLine, KeyCache, LineResult, check_lines, verify_signatures
from verify.dsse import add_signature, envelope_for_statement, parse_envelope
from verify.entry import make_entry, parse_entry
from verify.keys import Ed25519Signer, encode_public_key
from verify.merkle import leaf_hash

from .test_fastjcs import same

ALICE = Ed25519Signer.generate()
BOB = Ed25519Signer.generate()
AT = datetime(2025, 5, 14, 9, tzinfo=UTC)


def leaf_of(statement: dict[str, Any], *signers: Ed25519Signer, seq: int = 3) -> bytes:
    env = parse_envelope(envelope_for_statement(statement, signers[0]))
    for s in signers[1:]:
        env = add_signature(env, s)
    return make_entry(seq, AT, env).leaf


FINDING = {
    "type": "capability_finding",
    "id": "finding-1",
    "issued_at": "2025-05-14T09:00:00Z",
    "issuer": "eve",
    "model": "m",
    "threshold": "CBRN-3",
    "assessment": "comprehensive",
    "outcome": "ruled_out",
    "effective_compute": 1.2e25,
    "evaluations": ["suite"],
    "note": "café ✓",
}
REGISTRATION = {
    "type": "principal_registered",
    "id": "p-bob",
    "issued_at": "2025-05-14T09:00:00Z",
    "issuer": "alice",
    "principal": "bob",
    "roles": ["ceo"],
    "public_keys": [encode_public_key(BOB.public_raw)],
}


def well_formed(result: LineResult) -> GoodLine:
    assert result[0] is not None, result
    return result


def cache(*signers: Ed25519Signer) -> KeyCache:
    c = KeyCache()
    c.set(1, {s.key_id: s.public_raw for s in signers})
    return c


def lean(leaf: bytes) -> tuple[str, Any]:
    """What the verifier concludes from the line checker plus typing the statement."""
    [result] = check_lines(leaf + b"\n", cache(ALICE, BOB))
    if result[0] is None:
        return ("refused", None)
    seq, recorded_at, payload, key_ids, lh, _pending, _error = result
    assert lh == leaf_hash(leaf)
    try:
        statement = parse_statement(json.loads(payload))
    except VerificationError:
        return ("refused", None)
    return ("ok", (seq, recorded_at, payload, key_ids, statement))


def reference(leaf: bytes) -> tuple[str, Any]:
    try:
        e = parse_entry(leaf)
    except VerificationError:
        return ("refused", None)
    return (
        "ok",
        (e.seq, e.recorded_at, e.envelope.payload, e.envelope.key_ids, e.envelope.statement),
    )


def test_a_good_entry_is_read_as_parse_entry_reads_it() -> None:
    leaf = leaf_of(FINDING, ALICE, BOB)
    assert lean(leaf) == reference(leaf)
    [result] = check_lines(leaf, cache(ALICE, BOB))
    assert result[0] == 3 and result[5] == () and result[6] is None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([FINDING, REGISTRATION]), st.data())
def test_mutated_entries_are_refused_exactly_when_parse_entry_refuses(
    statement: dict[str, Any], data: st.DataObject
) -> None:
    leaf = bytearray(leaf_of(statement, ALICE))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(leaf) - 1))
        op = data.draw(st.sampled_from(["flip", "delete", "insert", "replace"]))
        if op == "flip":
            leaf[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "delete":
            del leaf[i]
        elif op == "insert":
            leaf.insert(i, data.draw(st.sampled_from(b' ,0"{}[]:A=\\')))
        else:
            leaf[i] = data.draw(st.sampled_from(b'0123456789abcdefABZ+/="'))
    mutated = bytes(leaf).replace(b"\n", b" ")  # a line holds no newline by construction
    ours, ref = lean(mutated), reference(mutated)
    assert ours[0] == ref[0], mutated
    if ours[0] == "ok":
        assert ours[1] == ref[1]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_payloads_are_judged_as_parse_entry_judges_them(data: st.DataObject) -> None:
    # Mutate inside the payload and re-wrap it, so the outer entry stays canonical.
    payload = bytearray(
        json.dumps(FINDING, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    i = data.draw(st.integers(0, len(payload) - 1))
    payload[i] = data.draw(st.sampled_from(b' ,0"{}[]:e.-\\'))
    entry = {
        "seq": 1,
        "recorded_at": "2025-05-14T09:00:00Z",
        "envelope": {
            "payloadType": "application/vnd.rsp-ledger.statement.v1+json",
            "payload": base64.b64encode(bytes(payload)).decode(),
            "signatures": [{"keyid": ALICE.key_id, "sig": base64.b64encode(b"\0" * 64).decode()}],
        },
    }
    leaf = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    assert lean(leaf)[0] == reference(leaf)[0]
    if lean(leaf)[0] == "ok":
        assert same(json.loads(lean(leaf)[1][2]), json.loads(reference(leaf)[1][2]))


def test_a_bad_signature_is_named_and_unknown_keys_are_pending() -> None:
    good = leaf_of(FINDING, ALICE, BOB)
    obj = json.loads(good)
    sig = bytearray(base64.b64decode(obj["envelope"]["signatures"][1]["sig"]))
    sig[0] ^= 1
    obj["envelope"]["signatures"][1]["sig"] = base64.b64encode(bytes(sig)).decode()
    bad = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    [r_good, r_bad] = map(well_formed, check_lines(good + b"\n" + bad + b"\n", cache(ALICE, BOB)))
    assert r_good[6] is None
    assert r_bad[6] is not None and BOB.key_id[:16] in r_bad[6]
    # BOB unknown to the worker: his signature is left for the main process.
    [pending] = map(well_formed, check_lines(good, cache(ALICE)))
    assert pending[6] is None
    assert [kid for kid, _ in pending[5]] == [BOB.key_id]


def test_keys_introduced_in_the_chunk_are_used_for_later_lines() -> None:
    registration = leaf_of(REGISTRATION, ALICE, seq=1)
    by_bob = leaf_of({**FINDING, "issuer": "bob"}, BOB, seq=2)
    results = [
        well_formed(r) for r in check_lines(registration + b"\n" + by_bob + b"\n", cache(ALICE))
    ]
    assert [r[5] for r in results] == [(), ()]
    assert [r[6] for r in results] == [None, None]


def test_lines_are_split_on_newline_only() -> None:
    leaf = leaf_of(FINDING, ALICE)
    results = check_lines(leaf + b"\n\n" + leaf, cache(ALICE))
    assert [r[0] for r in results] == [3, None, 3]
    assert results[1][2] == hashlib.sha256(b"\x00").digest()  # the empty line's leaf hash


def test_deferred_signatures() -> None:
    message = b"DSSEv1 3 abc 2 hi"
    good = ALICE.sign(message)
    bad = bytes([good[0] ^ 1]) + good[1:]
    failures = verify_signatures(
        [(5, ALICE.public_raw, good, message), (6, ALICE.public_raw, bad, message)]
    )
    assert failures == [
        (6, f"signature by key {ALICE.key_id[:16]}… does not verify over this payload")
    ]
