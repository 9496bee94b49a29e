"""Hostile input (issue 9): every parser of foreign bytes, fed random and mutated input by
hypothesis, raises only the project's typed errors — never another exception, never a hang.

`make test` runs RELIABILITY_FUZZ_EXAMPLES (default 150) inputs per parser and strategy;
`make reliability` runs 5,000. The count tried is printed at the end of the session.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import RspLedgerError
from domain.policy import PolicyDocument, policy_problems
from domain.statements import parse_statement
from verify.details import MAX_DETAIL_BYTES, parse_detail_bytes
from verify.dsse import (
    MAX_ENVELOPE_BYTES,
    MAX_SIGNATURES,
    envelope_for_statement,
    parse_envelope_bytes,
)
from verify.entry import parse_entry
from verify.jcs import MAX_DEPTH, parse_canonical
from verify.keys import Ed25519Signer
from verify.note import (
    MAX_NOTE_BYTES,
    Checkpoint,
    Vkey,
    format_vkey,
    open_note,
    parse_checkpoint_body,
    parse_note,
    sign_checkpoint,
)
from verify.note import MAX_SIGNATURES as MAX_NOTE_SIGNATURES
from verify.tlog_proof import TlogProof, format_tlog_proof, parse_tlog_proof

EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "150"))
TRIED: Counter[str] = Counter()
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=2000,  # a hang fails the example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)

SIGNER = Ed25519Signer.generate()
STATEMENT = {
    "type": "capability_finding",
    "id": "f-1",
    "issued_at": "2025-05-14T00:00:00Z",
    "issuer": "eve",
    "model": "m",
    "threshold": "CBRN-3",
    "assessment": "comprehensive",
    "outcome": "ruled_out",
    "effective_compute": 1.2e25,
    "evaluations": ["suite"],
}
ENVELOPE = json.dumps(envelope_for_statement(STATEMENT, SIGNER)).encode()
ENTRY = (
    b'{"envelope":'
    + json.dumps(
        envelope_for_statement(STATEMENT, SIGNER), separators=(",", ":"), sort_keys=True
    ).encode()
    + b',"recorded_at":"2025-05-14T00:00:00Z","seq":3}'
)
CHECKPOINT = sign_checkpoint(Checkpoint("example.org/log", 3, bytes(32)), "example.org/log", SIGNER)
VKEY = Vkey.parse(format_vkey("example.org/log", SIGNER.public_raw))
PROOF = format_tlog_proof(TlogProof(1, (bytes(32), bytes(range(32))), CHECKPOINT)).encode()
DETAIL = json.dumps(
    {"statement": "f-1", "salt": base64.b64encode(bytes(32)).decode(), "details": {"a": [1]}}
).encode()
POLICY: dict[str, Any] = {
    "schema": "rsp-ledger.policy/v1",
    "id": "p",
    "version": "1",
    "levels": ["L1", "L2"],
    "scopes": ["external"],
    "standards": {"L2": {"deployment": ["c"], "security": ["d"]}},
    "thresholds": [{"id": "T", "requires": {"deployment": "L2"}}],
    "assessment": {
        "max_age_days": 183,
        "effective_compute_multiple": 4.0,
        "cannot_rule_out_counts_as_crossed": True,
        "early_warning_requires_comprehensive": True,
    },
    "safeguards": {"max_validity_days": 365},
    "approvals": {},
    "notify_before_deployment": [],
}


def _typed_only(name: str, fn: Callable[[], object]) -> None:
    """Run a parser; only the project's typed errors may come out."""
    TRIED[name] += 1
    with contextlib.suppress(RspLedgerError):
        fn()


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """A valid input with bytes flipped, inserted, deleted, or cut short."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(seed)
        for _ in range(draw(st.integers(1, 8))):
            op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
            if not data:
                break
            i = draw(st.integers(0, len(data) - 1))
            if op == "flip":
                data[i] ^= 1 << draw(st.integers(0, 7))
            elif op == "insert":
                data[i:i] = draw(st.binary(min_size=1, max_size=8))
            elif op == "delete":
                del data[i : i + draw(st.integers(1, 8))]
            elif op == "truncate":
                del data[i:]
            else:
                data[i:i] = data[i : i + draw(st.integers(1, 32))]
        return bytes(data)

    return mutate()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)

PARSERS: dict[str, tuple[Callable[[bytes], object], bytes]] = {
    "envelope": (parse_envelope_bytes, ENVELOPE),
    "entry": (parse_entry, ENTRY),
    "canonical-json": (parse_canonical, ENTRY),
    "detail": (parse_detail_bytes, DETAIL),
    "signed-note": (lambda b: open_note(b, [VKEY]), CHECKPOINT.encode()),
    "checkpoint": (lambda b: parse_checkpoint_body(parse_note(b).text), CHECKPOINT.encode()),
    "tlog-proof": (parse_tlog_proof, PROOF),
    "vkey": (lambda b: Vkey.parse(b.decode("utf-8", "replace")), str(VKEY).encode()),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_valid_seed_parses(name: str) -> None:
    fn, seed = PARSERS[name]
    fn(seed)  # the seed is valid: mutations start from something the parser accepts


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_mutated_inputs_raise_only_typed_errors(name: str, data: st.DataObject) -> None:
    fn, seed = PARSERS[name]
    blob = data.draw(mutations(seed))
    _typed_only(name, lambda: fn(blob))


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(blob=st.binary(max_size=2048))
def test_random_bytes_raise_only_typed_errors(name: str, blob: bytes) -> None:
    fn, _ = PARSERS[name]
    _typed_only(name, lambda: fn(blob))


@FUZZ
@given(obj=json_values, kind=st.sampled_from(["capability_finding", "deployment_decision", "x"]))
def test_statement_schema_on_random_json(obj: Any, kind: str) -> None:
    candidate = dict(STATEMENT, type=kind, extra=obj) if isinstance(obj, dict) else obj
    _typed_only("statement", lambda: parse_statement(candidate))
    if isinstance(obj, dict):
        _typed_only("statement", lambda: parse_statement({**STATEMENT, **obj}))


@FUZZ
@given(
    patch=st.dictionaries(
        st.sampled_from([*sorted(POLICY), "junk"]),
        json_values,
        max_size=4,
    )
)
def test_policy_validity_on_random_documents(patch: dict[str, Any]) -> None:
    doc = {**POLICY, **patch}
    TRIED["policy"] += 1
    problems = policy_problems(doc)  # never raises: it is the rule amendment.valid
    assert isinstance(problems, list)
    if problems:
        with pytest.raises(RspLedgerError):
            PolicyDocument.parse(doc)
    else:
        PolicyDocument.parse(doc)


# -- explicit limits -----------------------------------------------------------------------------


def test_envelope_size_limit() -> None:
    big = b" " * (MAX_ENVELOPE_BYTES + 1)
    with pytest.raises(RspLedgerError, match="at most"):
        parse_envelope_bytes(big)


def test_signature_count_limit() -> None:
    env = json.loads(ENVELOPE)
    sig = env["signatures"][0]
    env["signatures"] = [
        {"keyid": f"{i:064x}", "sig": sig["sig"]} for i in range(MAX_SIGNATURES + 1)
    ]
    with pytest.raises(RspLedgerError, match=f"at most {MAX_SIGNATURES}"):
        parse_envelope_bytes(json.dumps(env).encode())


def test_details_size_limit() -> None:
    blob = json.dumps(
        {
            "statement": "f-1",
            "salt": base64.b64encode(bytes(32)).decode(),
            "details": "x" * (MAX_DETAIL_BYTES + 1),
        }
    ).encode()
    with pytest.raises(RspLedgerError, match="at most"):
        parse_detail_bytes(blob)


def test_json_depth_limit() -> None:
    deep = b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1)
    with pytest.raises(RspLedgerError, match="nested"):
        parse_canonical(deep)
    ok = b'{"a":' * (MAX_DEPTH - 1) + b"1" + b"}" * (MAX_DEPTH - 1)
    parse_canonical(ok)


def test_note_limits() -> None:
    with pytest.raises(RspLedgerError):
        parse_note(b"x" * (MAX_NOTE_BYTES + 1))
    body, _, sigline = CHECKPOINT.rpartition("\n\n")[0], None, CHECKPOINT.split("\n\n")[1]
    many = CHECKPOINT + sigline * MAX_NOTE_SIGNATURES
    with pytest.raises(RspLedgerError, match="16"):
        parse_note(many)
    assert body


@pytest.fixture(scope="session", autouse=True)
def _report() -> Iterator[None]:
    yield
    if TRIED:
        total = sum(TRIED.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(TRIED.items()))
        print(f"\nhostile input: {total} inputs tried ({parts}); findings: none raised untyped")
