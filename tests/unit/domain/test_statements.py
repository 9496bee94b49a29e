"""The statement schema of SPEC §2: strict types, identifiers, times, and each type's own rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.errors import MalformedStatementError
from domain.ids import format_time, parse_time
from domain.statements import (
    CapabilityFinding,
    KeyRevoked,
    SafeguardAttestation,
    cited_ids,
    parse_statement,
)

KEY = "A" * 43 + "="
BASE = {"id": "s-1", "issued_at": "2025-05-14T00:00:00Z", "issuer": "alice"}

VALID: dict[str, dict[str, Any]] = {
    "ledger_genesis": {
        "origin": "example.org/rsp-ledger",
        "time_source": "system",
        "admins": [{"principal": "alice", "public_key": KEY}],
    },
    "principal_registered": {"principal": "bob", "roles": ["ceo"], "public_keys": [KEY]},
    "roles_set": {"principal": "bob", "roles": []},
    "key_added": {"principal": "bob", "public_key": KEY},
    "key_revoked": {"key_id": "a" * 64, "reason": "rotated"},
    "policy_adopted": {"policy": {"anything": 1}, "effective_at": "2025-05-14T00:00:00Z"},
    "model_registered": {"model": "m", "name": "M", "parent": None, "effective_compute": 1e25},
    "compute_measured": {"model": "m", "effective_compute": 2},
    "capability_finding": {
        "model": "m",
        "threshold": "CBRN-3",
        "assessment": "comprehensive",
        "outcome": "ruled_out",
        "effective_compute": 1.5e25,
        "evaluations": [],
    },
    "capability_determination": {
        "model": "m",
        "findings": ["f-1"],
        "required": {"deployment": "ASL-3", "security": "ASL-2"},
    },
    "safeguard_attestation": {
        "standard": "ASL-3",
        "part": "deployment",
        "controls": ["red-teaming"],
        "model": None,
        "scopes": ["external"],
        "valid_until": "2026-05-14T00:00:00Z",
    },
    "safeguards_determination": {
        "standard": "ASL-3",
        "model": "m",
        "attestations": ["a-1"],
        "valid_until": "2026-05-14T00:00:00Z",
    },
    "attestation_withdrawn": {
        "statement": "a-1",
        "invalid_from": "2025-06-01T00:00:00Z",
        "reason": "audit failed",
    },
    "governance_notified": {"regarding": "d-1", "bodies": ["board", "ltbt"]},
    "deployment_decision": {
        "model": "m",
        "action": "deploy",
        "scope": "external",
        "determination": "d-1",
        "safeguards": ["sd-1"],
    },
    "noncompliance_reported": {"regarding": None, "summary": "late"},
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_type_parses(kind: str) -> None:
    st = parse_statement({**BASE, "type": kind, **VALID[kind]})
    assert st.type == kind and st.id == "s-1"


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_type_refuses_unknown_fields(kind: str) -> None:
    with pytest.raises(MalformedStatementError, match="extra"):
        parse_statement({**BASE, "type": kind, **VALID[kind], "colour": "blue"})


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_type_refuses_a_missing_own_field(kind: str) -> None:
    fields = dict(VALID[kind])
    fields.pop(next(iter(fields)))
    with pytest.raises(MalformedStatementError):
        parse_statement({**BASE, "type": kind, **fields})


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("noncompliance_reported", {"id": "-starts-with-dash"}, "id"),
    ("noncompliance_reported", {"id": "x" * 129}, "id"),
    ("noncompliance_reported", {"issuer": "has space"}, "issuer"),
    ("noncompliance_reported", {"issued_at": "2025-05-14T00:00:00+00:00"}, "issued_at"),
    ("noncompliance_reported", {"issued_at": "2025-05-14T00:00:00.1234567Z"}, "issued_at"),
    ("noncompliance_reported", {"issued_at": "2025-02-30T00:00:00Z"}, "issued_at"),
    ("noncompliance_reported", {"issued_at": 1747180800}, "issued_at"),
    ("noncompliance_reported", {"note": None}, "null"),
    ("noncompliance_reported", {"note": "x" * 2001}, "note"),
    ("noncompliance_reported", {"details_digest": "sha256:ABC"}, "details_digest"),
    ("model_registered", {"effective_compute": 0}, "effective_compute"),
    ("model_registered", {"effective_compute": True}, "effective_compute"),
    ("model_registered", {"effective_compute": "1e25"}, "effective_compute"),
    ("key_revoked", {"reason": "compromised"}, "compromised_since"),
    ("key_revoked", {"compromised_since": "2025-05-01T00:00:00Z"}, "compromised_since"),
    ("key_revoked", {"key_id": "A" * 64}, "key_id"),
    ("principal_registered", {"public_keys": []}, "public_keys"),
    ("principal_registered", {"public_keys": ["AAAA"]}, "public_keys"),
    ("capability_determination", {"findings": []}, "findings"),
    ("capability_determination", {"required": {"deployment": "ASL-3"}}, "required"),
    ("capability_finding", {"outcome": "maybe"}, "outcome"),
    ("safeguard_attestation", {"part": "security"}, "scopes"),
    ("safeguard_attestation", {"controls": []}, "controls"),
    ("deployment_decision", {"action": "ship"}, "action"),
    ("governance_notified", {"bodies": []}, "bodies"),
    ("ledger_genesis", {"origin": "has space"}, "origin"),
    ("ledger_genesis", {"origin": "a+b"}, "origin"),
    ("ledger_genesis", {"time_source": "ntp"}, "time_source"),
]


@pytest.mark.parametrize(("kind", "change", "field"), BAD)
def test_schema_violations_name_the_field(kind: str, change: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedStatementError, match=field):
        parse_statement({**BASE, "type": kind, **VALID[kind], **change})


def test_non_object_and_unknown_type() -> None:
    with pytest.raises(MalformedStatementError, match="JSON object"):
        parse_statement([1, 2])
    with pytest.raises(MalformedStatementError, match="type: expected one of"):
        parse_statement({**BASE, "type": "capability_guess"})


def test_typed_fields() -> None:
    st = parse_statement({**BASE, "type": "capability_finding", **VALID["capability_finding"]})
    assert isinstance(st, CapabilityFinding)
    assert st.issued_at == datetime(2025, 5, 14, tzinfo=UTC)
    kr = parse_statement(
        {
            **BASE,
            "type": "key_revoked",
            "key_id": "b" * 64,
            "reason": "compromised",
            "compromised_since": "2025-05-01T00:00:00.5Z",
        }
    )
    assert isinstance(kr, KeyRevoked) and kr.compromised_since is not None
    att = parse_statement(
        {**BASE, "type": "safeguard_attestation", **VALID["safeguard_attestation"]}
    )
    assert isinstance(att, SafeguardAttestation) and att.model is None


def test_cited_ids() -> None:
    dd = parse_statement({**BASE, "type": "deployment_decision", **VALID["deployment_decision"]})
    assert cited_ids(dd) == ("d-1", "sd-1")


def test_times_compare_as_instants_and_round_trip() -> None:
    assert parse_time("2025-05-14T00:00:00Z") == parse_time("2025-05-14T00:00:00.000000Z")
    t = parse_time("2025-05-14T00:00:00.120000Z")
    assert format_time(t) == "2025-05-14T00:00:00.12Z"
    assert parse_time(format_time(t)) == t


@pytest.mark.parametrize(
    ("text", "t"),
    [
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("0999-12-31T23:59:59.00001Z", datetime(999, 12, 31, 23, 59, 59, 10, tzinfo=UTC)),
        ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_a_year_before_1000_keeps_its_four_digits(text: str, t: datetime) -> None:
    """(glibc's strftime("%Y") writes year 999 as "999", which no RFC 3339 parser takes.)"""
    assert format_time(t) == text
    assert parse_time(text) == t
