"""The vocabulary of the scenario tables: one function per kind of row.

A scenario is a list of rows, in seq order. Each row is one statement, recorded `at` days after
T0, signed by the principals named in `by` ("ceo+rso"), with the verdict expected for it:

- `None` (the default): the statement is not judged at all;
- `OK` / `OK_UNDER("test-rsp@2")`: compliant (under that policy);
- `NC(rule, ...)`: noncompliant, failing exactly those rules;
- `INV("wd-1", ...)`: invalidated, by exactly those statements.

Records are built at the domain level: `signer_key_ids` are the key ids of fixed public keys
registered by the scenario's own genesis and `principal_registered` rows; no signature is made.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from domain.ids import format_time
from domain.log import LogRecord
from domain.registry import key_id_of
from domain.statements import parse_statement

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def ts(days: float) -> str:
    return format_time(at(days))


def public_key(name: str) -> str:
    """A fixed, valid-looking base64 Ed25519 public key per key name (no private key exists)."""
    return base64.b64encode(hashlib.sha256(f"key:{name}".encode()).digest()).decode()


def kid(name: str) -> str:
    return key_id_of(public_key(name))


# -- expectations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    verdict: str
    failed: tuple[str, ...] = ()
    invalidated_by: tuple[str, ...] = ()
    policy: str | None = None
    # substrings the failure messages must contain (an auditor's words, expected vs found)
    says: tuple[str, ...] = ()


OK = Expect("compliant")


def OK_UNDER(policy: str) -> Expect:
    return Expect("compliant", policy=policy)


def NC(*rules: str, policy: str | None = None, says: tuple[str, ...] = ()) -> Expect:
    return Expect("noncompliant", failed=tuple(rules), policy=policy, says=says)


def INV(*by: str) -> Expect:
    return Expect("invalidated", invalidated_by=tuple(by))


# -- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    at: float
    statement: dict[str, Any]
    by: tuple[str, ...]  # key names
    expect: Expect | None = None

    @property
    def id(self) -> str:
        return str(self.statement["id"])

    def expecting(self, expect: Expect | None) -> Row:
        """This row with another expected verdict."""
        return Row(self.at, self.statement, self.by, expect)


def _row(days: float, kind: str, sid: str, by: str, expect: Expect | None, **fields: Any) -> Row:
    keys = tuple(by.split("+")) if by else ()
    issuer = keys[0].split("#")[0] if keys else "admin"
    statement = {"type": kind, "id": sid, "issued_at": ts(days), "issuer": issuer, **fields}
    return Row(days, statement, keys, expect)


# The principals every scenario starts with, and their roles.
PRINCIPALS: dict[str, list[str]] = {
    "ceo": ["ceo"],
    "rso": ["responsible-scaling-officer"],
    "both": ["ceo", "responsible-scaling-officer"],
    "ceo2": ["ceo"],
    "eval": ["evaluator"],
    "sec": ["security-lead"],
    "board": ["board"],
    "ltbt": ["ltbt"],
    "newbie": [],
}


def genesis() -> Row:
    return _row(
        -10,
        "ledger_genesis",
        "genesis",
        "admin",
        None,
        origin="test.example/rsp-ledger",
        time_source="asserted",
        admins=[{"principal": "admin", "public_key": public_key("admin")}],
    )


def principal(days: float, name: str, roles: list[str], by: str = "admin") -> Row:
    return _row(
        days,
        "principal_registered",
        f"reg-{name}",
        by,
        None,
        principal=name,
        roles=roles,
        public_keys=[public_key(name)],
    )


def roles_set(days: float, sid: str, name: str, roles: list[str], by: str = "admin") -> Row:
    return _row(days, "roles_set", sid, by, None, principal=name, roles=roles)


def key_added(days: float, sid: str, name: str, key_name: str, by: str = "admin") -> Row:
    return _row(days, "key_added", sid, by, None, principal=name, public_key=public_key(key_name))


def compromised(days: float, sid: str, key_name: str, since: float, by: str = "admin") -> Row:
    return _row(
        days,
        "key_revoked",
        sid,
        by,
        None,
        key_id=kid(key_name),
        reason="compromised",
        compromised_since=ts(since),
    )


def adopt(
    days: float,
    sid: str,
    document: dict[str, Any],
    *,
    effective: float | None = None,
    by: str = "board",
    expect: Expect | None = OK,
) -> Row:
    return _row(
        days,
        "policy_adopted",
        sid,
        by,
        expect,
        policy=copy.deepcopy(document),
        effective_at=ts(days if effective is None else effective),
    )


def model(days: float, name: str = "m1", compute: float = 1e25, by: str = "eval") -> Row:
    return _row(
        days,
        "model_registered",
        f"model-{name}",
        by,
        None,
        model=name,
        name=f"Model {name}",
        parent=None,
        effective_compute=compute,
    )


def compute(days: float, sid: str, value: float, m: str = "m1", by: str = "eval") -> Row:
    return _row(days, "compute_measured", sid, by, None, model=m, effective_compute=value)


def finding(
    days: float,
    sid: str,
    threshold: str,
    outcome: str = "ruled_out",
    *,
    assessment: str = "comprehensive",
    m: str = "m1",
    compute: float = 1e25,
    by: str = "eval",
    expect: Expect | None = None,
) -> Row:
    return _row(
        days,
        "capability_finding",
        sid,
        by,
        expect,
        model=m,
        threshold=threshold,
        assessment=assessment,
        outcome=outcome,
        effective_compute=compute,
        evaluations=[],
    )


def determination(
    days: float,
    sid: str,
    findings: list[str],
    deployment: str = "ASL-2",
    security: str = "ASL-2",
    *,
    m: str = "m1",
    by: str = "ceo+rso",
    expect: Expect | None = OK,
) -> Row:
    return _row(
        days,
        "capability_determination",
        sid,
        by,
        expect,
        model=m,
        findings=findings,
        required={"deployment": deployment, "security": security},
    )


ASL3_DEPLOYMENT = ["red-teaming", "monitoring", "trusted-users"]
ASL3_SECURITY = ["access-control", "audits"]
ALL_SCOPES = ["internal", "trusted", "external"]


def attestation(
    days: float,
    sid: str,
    part: str = "deployment",
    *,
    standard: str = "ASL-3",
    controls: list[str] | None = None,
    m: str | None = "m1",
    scopes: list[str] | None = None,
    until: float = 300,
    by: str = "sec",
    expect: Expect | None = None,
) -> Row:
    if controls is None:
        controls = ASL3_DEPLOYMENT if part == "deployment" else ASL3_SECURITY
    if scopes is None:
        scopes = ALL_SCOPES if part == "deployment" else []
    return _row(
        days,
        "safeguard_attestation",
        sid,
        by,
        expect,
        standard=standard,
        part=part,
        controls=controls,
        model=m,
        scopes=scopes,
        valid_until=ts(until),
    )


def safeguards(
    days: float,
    sid: str,
    attestations: list[str],
    *,
    standard: str = "ASL-3",
    m: str | None = "m1",
    until: float = 300,
    by: str = "ceo+rso",
    expect: Expect | None = OK,
) -> Row:
    return _row(
        days,
        "safeguards_determination",
        sid,
        by,
        expect,
        standard=standard,
        model=m,
        attestations=attestations,
        valid_until=ts(until),
    )


def withdraw(days: float, sid: str, statement: str, invalid_from: float, by: str = "sec") -> Row:
    return _row(
        days,
        "attestation_withdrawn",
        sid,
        by,
        None,
        statement=statement,
        invalid_from=ts(invalid_from),
        reason="control found ineffective",
    )


def notify(
    days: float,
    sid: str,
    regarding: str,
    bodies: list[str] | None = None,
    by: str = "rso",
    *,
    expect: Expect | None = None,
) -> Row:
    return _row(
        days,
        "governance_notified",
        sid,
        by,
        expect,
        regarding=regarding,
        bodies=bodies if bodies is not None else ["board", "ltbt"],
    )


def deploy(
    days: float,
    sid: str,
    det: str,
    sds: list[str] | None = None,
    *,
    scope: str = "external",
    m: str = "m1",
    action: str = "deploy",
    by: str = "ceo+rso",
    expect: Expect | None = OK,
) -> Row:
    return _row(
        days,
        "deployment_decision",
        sid,
        by,
        expect,
        model=m,
        action=action,
        scope=scope,
        determination=det,
        safeguards=sds or [],
    )


def report(days: float, sid: str, regarding: str | None, by: str = "rso") -> Row:
    return _row(days, "noncompliance_reported", sid, by, None, regarding=regarding, summary="x")


# -- the test policy -----------------------------------------------------------------------------

POLICY_V1: dict[str, Any] = {
    "schema": "rsp-ledger.policy/v1",
    "id": "test-rsp",
    "version": "1",
    "title": "A small RSP for scenarios",
    "levels": ["ASL-2", "ASL-3", "ASL-4"],
    "scopes": ALL_SCOPES,
    "standards": {
        "ASL-3": {"deployment": ASL3_DEPLOYMENT, "security": ASL3_SECURITY},
        "ASL-4": {"deployment": [], "security": []},
    },
    "thresholds": [
        {"id": "CBRN-3", "requires": {"deployment": "ASL-3", "security": "ASL-3"}},
        {"id": "AI-RD-4", "requires": {"security": "ASL-3"}},
        {"id": "CBRN-4", "requires": {"deployment": "ASL-4", "security": "ASL-4"}},
    ],
    "assessment": {
        "max_age_days": 183,
        "effective_compute_multiple": 4.0,
        "cannot_rule_out_counts_as_crossed": True,
        "early_warning_requires_comprehensive": True,
    },
    "safeguards": {"max_validity_days": 365},
    "approvals": {
        "capability_determination": ["ceo", "responsible-scaling-officer"],
        "safeguards_determination": ["ceo", "responsible-scaling-officer"],
        "deployment_decision": ["ceo", "responsible-scaling-officer"],
        "policy_adopted": ["board"],
    },
    "notify_before_deployment": ["board", "ltbt"],
}


def amended(version: str, **changes: Any) -> dict[str, Any]:
    """POLICY_V1 with a new version and some top-level fields replaced, or nested ones set with
    dotted keys (`assessment__max_age_days=90`)."""
    doc = copy.deepcopy(POLICY_V1)
    doc["version"] = version
    for name, value in changes.items():
        path = name.split("__")
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = copy.deepcopy(value)
    return doc


def setup(
    policy: dict[str, Any] | None = None, *, with_policy: bool = True, with_model: bool = True
) -> list[Row]:
    """Genesis, the principals, the bootstrap policy at day 0 and model m1 at day 1."""
    rows = [genesis()]
    rows += [principal(-9, name, roles) for name, roles in PRINCIPALS.items()]
    if with_policy:
        rows.append(adopt(0, "policy-1", policy or POLICY_V1, by="admin"))
    if with_model:
        rows.append(model(1))
    return rows


def clean_findings(days: float = 10, m: str = "m1", prefix: str = "f") -> list[Row]:
    """A comprehensive finding ruling out every threshold of POLICY_V1."""
    return [
        finding(days, f"{prefix}-cbrn3", "CBRN-3", m=m),
        finding(days, f"{prefix}-aird4", "AI-RD-4", m=m),
        finding(days, f"{prefix}-cbrn4", "CBRN-4", m=m),
    ]


def asl3_evidence(
    days: float = 10,
    *,
    dep_scopes: list[str] | None = None,
    notified: list[str] | None = None,
    notify_board_and_ltbt: bool = True,
    att_until: float = 300,
    sd_until: float = 300,
    attested_model: str | None = "m1",
) -> list[Row]:
    """CBRN-3 crossed, the rest ruled out; the ASL-3 determination `det-1`, the attestations
    `att-dep` and `att-sec`, the safeguards determination `sd-1`, and the Board and LTBT notified
    (`notify-1`): everything a compliant ASL-3 deployment needs, on days 10 to 14."""
    rows = [
        finding(days, "f-cbrn3", "CBRN-3", "crossed"),
        finding(days, "f-aird4", "AI-RD-4"),
        finding(days, "f-cbrn4", "CBRN-4"),
        determination(days + 1, "det-1", ["f-cbrn3", "f-aird4", "f-cbrn4"], "ASL-3", "ASL-3"),
        attestation(
            days + 2,
            "att-dep",
            "deployment",
            scopes=dep_scopes,
            until=att_until,
            m=attested_model,
        ),
        attestation(days + 2, "att-sec", "security", until=att_until, m=attested_model),
        safeguards(days + 3, "sd-1", ["att-dep", "att-sec"], until=sd_until),
    ]
    if notified is not None or notify_board_and_ltbt:
        rows.append(notify(days + 4, "notify-1", "det-1", notified))
    return rows


@dataclass(frozen=True)
class Scenario:
    name: str
    rows: list[Row]
    why: str = ""
    tags: tuple[str, ...] = field(default=())

    def records(self) -> list[LogRecord]:
        out: list[LogRecord] = []
        for seq, row in enumerate(self.rows):
            statement = parse_statement(row.statement)
            out.append(LogRecord(seq, at(row.at), statement, tuple(kid(k) for k in row.by)))
        return out


# -- policy v2 (docs/rules.md "Policy v2") ----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]

# Principals the v2 histories add to PRINCIPALS (the v1 histories keep their seq numbers).
V2_PRINCIPALS: dict[str, list[str]] = {
    "gov": ["governance-function"],
    "corpgov": ["corporate-governance"],
}

RISK_REPORT_CADENCE = {
    "id": "risk-report.cadence",
    "kind": "periodic",
    "statement": "risk_report_published",
    "max_interval_days": 183,
}
IN_SCOPE_DISCUSSION = {
    "id": "in-scope.discussion",
    "kind": "triggered",
    "trigger": "model_in_scope",
    "when": {"deployment": "internal"},
    "statement": "model_discussion_published",
    "within_days": 30,
}
EXTERNAL_REVIEW = {
    "id": "risk-report.external-review",
    "kind": "review_window",
    "regarding": "risk_report_published",
    "when": {"highly_capable": True, "significantly_redacted": True},
    "notified": ["board", "ltbt"],
    "statement": "external_review_requested",
    "within_days": 7,
}

# POLICY_V1 as a v2 document with one duty of each kind, the Board and the LTBT added to the
# approval of a Risk Report that rests on a marginal risk analysis, and a safety case before an
# external deployment of a model past CBRN-3.
POLICY_V2: dict[str, Any] = {
    **copy.deepcopy(POLICY_V1),
    "schema": "rsp-ledger.policy/v2",
    "version": "v2",
    "approvals": {
        **POLICY_V1["approvals"],
        "risk_report_published": ["ceo", "responsible-scaling-officer"],
        "safety_case_approved": ["governance-function"],
    },
    "duties": [RISK_REPORT_CADENCE, IN_SCOPE_DISCUSSION, EXTERNAL_REVIEW],
    "approvals_if": {
        "risk_report_published": [
            {"when": {"marginal_risk_analysis": True}, "roles": ["board", "ltbt"]}
        ]
    },
    "safety_case_before": {"CBRN-3": ["external"]},
}


def v2_policy(version: str, **changes: Any) -> dict[str, Any]:
    """POLICY_V2 with a new version and some top-level fields replaced."""
    doc = copy.deepcopy(POLICY_V2)
    doc["version"] = version
    doc.update(copy.deepcopy(changes))
    return doc


def shipped(name: str) -> dict[str, Any]:
    """A policy of `policies/`, as the JSON object a policy_adopted statement carries."""
    obj = yaml.safe_load((ROOT / "policies" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(obj, dict)
    return obj


def setup_v2(
    policy: dict[str, Any] | None = None,
    *,
    with_model: bool = True,
    policy_expect: Expect | None = OK,
) -> list[Row]:
    """Genesis, the principals (with those of V2_PRINCIPALS), the bootstrap policy `policy-1`
    (POLICY_V2 unless another is given) on day 0, and model m1 on day 1."""
    rows = [genesis()]
    everyone = {**PRINCIPALS, **V2_PRINCIPALS}
    rows += [principal(-9, name, roles) for name, roles in everyone.items()]
    rows.append(adopt(0, "policy-1", policy or POLICY_V2, by="admin", expect=policy_expect))
    if with_model:
        rows.append(model(1))
    return rows


def risk_report(
    days: float,
    sid: str,
    *,
    models: list[str] | None = None,
    coverage: float | None = None,
    marginal: bool = False,
    highly_capable: bool = False,
    redacted: bool = False,
    by: str = "ceo+rso",
    expect: Expect | None = OK,
) -> Row:
    return _row(
        days,
        "risk_report_published",
        sid,
        by,
        expect,
        coverage_date=ts(days - 1 if coverage is None else coverage),
        models=models if models is not None else ["m1"],
        marginal_risk_analysis=marginal,
        highly_capable=highly_capable,
        significantly_redacted=redacted,
    )


def review_requested(
    days: float, sid: str, report: str, *, by: str = "rso", expect: Expect | None = None
) -> Row:
    return _row(
        days,
        "external_review_requested",
        sid,
        by,
        expect,
        report=report,
        reviewers=["An Independent Reviewer"],
    )


def in_scope(
    days: float,
    sid: str,
    m: str = "m1",
    deployment: str = "internal",
    *,
    by: str = "rso",
    expect: Expect | None = None,
) -> Row:
    return _row(days, "model_in_scope", sid, by, expect, model=m, deployment=deployment)


def discussion(
    days: float,
    sid: str,
    m: str = "m1",
    risk_report_id: str | None = None,
    *,
    by: str = "rso",
    expect: Expect | None = None,
) -> Row:
    return _row(
        days, "model_discussion_published", sid, by, expect, model=m, risk_report=risk_report_id
    )


def safety_case(
    days: float,
    sid: str,
    thresholds: list[str],
    scopes: list[str] | None = None,
    *,
    m: str = "m1",
    by: str = "gov",
    expect: Expect | None = OK,
) -> Row:
    return _row(
        days,
        "safety_case_approved",
        sid,
        by,
        expect,
        model=m,
        thresholds=thresholds,
        scopes=scopes if scopes is not None else ["external"],
    )
