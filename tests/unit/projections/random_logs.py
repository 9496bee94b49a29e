"""Random valid histories for property tests (hypothesis).

A history is what a ledger would accept (SPEC §2): unique ids, `recorded_at` never decreasing,
every signature by a registered key not yet revoked, issuers among the signers, withdrawals of
attestations or safeguards determinations only. What it records need not comply with the policy:
citations of the wrong model or of nothing, missing approvals, stale determinations, expired or
withdrawn safeguards, compromised keys and amendments all occur, so that every rule and every
invalidation path is exercised.

`Action`s are drawn first and then played, so that hypothesis shrinks a failing history to a short
list of actions.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from hypothesis import strategies as st

from domain.ids import format_time
from domain.log import LogRecord
from domain.statements import parse_statement
from tests.scenarios.kit import POLICY_V1, T0, kid, public_key

MODELS = ("m1", "m2", "m3")
THRESHOLDS = ("CBRN-3", "AI-RD-4", "CBRN-4")
LEVELS = ("ASL-2", "ASL-3", "ASL-4")
SCOPES = ("internal", "trusted", "external")
DEPLOYMENT_CONTROLS = tuple(POLICY_V1["standards"]["ASL-3"]["deployment"])
SECURITY_CONTROLS = tuple(POLICY_V1["standards"]["ASL-3"]["security"])
PEOPLE = {
    "ceo": ["ceo"],
    "rso": ["responsible-scaling-officer"],
    "eval": ["evaluator"],
    "sec": ["security-lead"],
    "board": ["board"],
    "ltbt": ["ltbt"],
}
# Weighted: a kind listed twice is drawn twice as often.
KINDS = (
    "model",
    "compute",
    "compute",
    "round",
    "round",
    "finding",
    "determination",
    "determination",
    "evidence",
    "evidence",
    "attestation",
    "safeguards",
    "notify",
    "notify",
    "deploy",
    "deploy",
    "deploy",
    "undeploy",
    "withdraw",
    "withdraw",
    "compromise",
    "amend",
    "report",
    "roles",
)


@dataclass(frozen=True)
class Action:
    kind: str
    days: float  # time since the previous entry
    picks: tuple[int, ...]  # free choices, interpreted by the kind


def actions(max_size: int = 40) -> st.SearchStrategy[list[Action]]:
    action = st.builds(
        Action,
        st.sampled_from(KINDS),
        st.sampled_from((0.0, 0.0, 0.5, 1.0, 3.0, 10.0, 40.0, 120.0)),
        st.tuples(*[st.integers(0, 11) for _ in range(6)]),
    )
    return st.lists(action, min_size=min(10, max_size), max_size=max_size)


class KeyNames(Protocol):
    """Public keys and key ids by key name (`eval#0`): fixed fakes, or real keys to sign with."""

    def public_key(self, name: str) -> str: ...

    def kid(self, name: str) -> str: ...


class FakeKeys:
    def public_key(self, name: str) -> str:
        return public_key(name)

    def kid(self, name: str) -> str:
        return kid(name)


@dataclass
class _Log:
    keys: KeyNames = field(default_factory=FakeKeys)
    signers: list[tuple[str, ...]] = field(default_factory=list)
    records: list[LogRecord] = field(default_factory=list)
    t: datetime = T0
    key_of: dict[str, str] = field(default_factory=dict)  # principal → current key name
    models: list[str] = field(default_factory=list)
    findings: list[tuple[str, str]] = field(default_factory=list)  # (id, model)
    determinations: list[tuple[str, str]] = field(default_factory=list)
    attestations: list[str] = field(default_factory=list)
    safeguards: list[str] = field(default_factory=list)
    policy_version: int = 1
    n: int = 0
    when: dict[str, datetime] = field(default_factory=dict)

    def add(self, kind: str, by: list[str], **fields: Any) -> str:
        self.n += 1
        sid = fields.pop("id", None) or f"{kind.split('_')[0]}-{self.n}"
        statement = {
            "type": kind,
            "id": sid,
            "issued_at": format_time(self.t),
            "issuer": by[0],
            **fields,
        }
        names = tuple(dict.fromkeys(self.key_of[p] for p in by))
        keys = tuple(self.keys.kid(n) for n in names)
        self.signers.append(names)
        self.records.append(LogRecord(len(self.records), self.t, parse_statement(statement), keys))
        self.when[sid] = self.t
        return sid


def _pick(items: Sequence[Any], i: int) -> Any:
    return items[i % len(items)]


def _subset(items: tuple[str, ...], mask: int) -> list[str]:
    return [x for j, x in enumerate(items) if mask >> j & 1]


def play(acts: list[Action]) -> list[LogRecord]:
    """The records of a ledger that accepted a genesis, the principals, the bootstrap policy,
    and then the actions, in order."""
    return play_signed(acts, FakeKeys())[0]


def play_signed(
    acts: list[Action], keys: KeyNames
) -> tuple[list[LogRecord], list[tuple[str, ...]]]:
    """The records, and the names of the keys that sign each one."""
    log = _Log(keys)
    log.key_of["admin"] = "admin"
    log.add(
        "ledger_genesis",
        ["admin"],
        id="genesis",
        origin="test.example/rsp-ledger",
        time_source="asserted",
        admins=[{"principal": "admin", "public_key": keys.public_key("admin")}],
    )
    for name, roles in PEOPLE.items():
        log.add(
            "principal_registered",
            ["admin"],
            principal=name,
            roles=roles,
            public_keys=[keys.public_key(f"{name}#0")],
        )
        log.key_of[name] = f"{name}#0"
    log.add(
        "policy_adopted",
        ["admin"],
        id="policy-1",
        policy=copy.deepcopy(POLICY_V1),
        effective_at=format_time(log.t),
    )
    for name in MODELS[:2]:
        log.add(
            "model_registered",
            ["eval"],
            model=name,
            name=f"Model {name}",
            parent=None,
            effective_compute=1e25,
        )
        log.models.append(name)
    for act in acts:
        log.t += timedelta(days=act.days)
        _play(log, act)
    return log.records, log.signers


def _play(log: _Log, act: Action) -> None:
    p = act.picks
    t = log.t
    approvers = ["ceo", "rso"] if p[5] % 6 else ["rso"]  # one in six lacks the CEO
    match act.kind:
        case "model":
            name = (
                f"m{len(log.models) + 1}" if len(log.models) < len(MODELS) else _pick(MODELS, p[0])
            )
            parent = _pick(log.models, p[1]) if log.models and p[2] % 2 else None
            log.add(
                "model_registered",
                ["eval"],
                model=name,
                name=f"Model {name}",
                parent=parent if parent != name else None,
                effective_compute=1e25 * (1 + p[3] % 3),
            )
            if name not in log.models:
                log.models.append(name)
        case "compute":
            log.add(
                "compute_measured",
                ["eval"],
                model=_pick(list(MODELS), p[0]),
                effective_compute=1e25 * (1 + p[1] % 6),
            )
        case "finding":
            model = _pick(log.models or list(MODELS), p[0])
            sid = log.add(
                "capability_finding",
                ["eval"],
                model=model,
                threshold=_pick(list(THRESHOLDS), p[1]),
                assessment="comprehensive" if p[2] % 3 else "preliminary",
                outcome=_pick(
                    ["ruled_out", "ruled_out", "early_warning", "cannot_rule_out", "crossed"], p[3]
                ),
                effective_compute=1e25 * (1 + p[4] % 2),
                evaluations=[],
            )
            log.findings.append((sid, model))
        case "round":
            # One evaluation of every threshold.
            model = _pick(log.models, p[0])
            for i, threshold in enumerate(THRESHOLDS):
                sid = log.add(
                    "capability_finding",
                    ["eval"],
                    model=model,
                    threshold=threshold,
                    assessment="comprehensive" if (p[1] + i) % 4 else "preliminary",
                    outcome=_pick(
                        [
                            "ruled_out",
                            "ruled_out",
                            "ruled_out",
                            "crossed",
                            "early_warning",
                            "cannot_rule_out",
                        ],
                        p[2] + i * p[3],
                    ),
                    effective_compute=1e25 * (1 + p[4] % 2),
                    evaluations=[],
                )
                log.findings.append((sid, model))
        case "evidence":
            # Deployment and security attestations, and a safeguards determination citing both.
            model = None if p[0] % 2 else _pick(log.models, p[1])
            standard = "ASL-3" if p[2] % 5 else "ASL-4"
            until = t + timedelta(days=(35, 200, 300, 380)[p[3] % 4])
            dep = log.add(
                "safeguard_attestation",
                ["sec"],
                standard=standard,
                part="deployment",
                controls=list(DEPLOYMENT_CONTROLS),
                model=model,
                scopes=list(SCOPES) if p[4] % 3 else ["internal"],
                valid_until=format_time(until),
            )
            sec = log.add(
                "safeguard_attestation",
                ["sec"],
                standard=standard,
                part="security",
                controls=list(SECURITY_CONTROLS),
                model=model,
                scopes=[],
                valid_until=format_time(until),
            )
            log.attestations += [dep, sec]
            log.safeguards.append(
                log.add(
                    "safeguards_determination",
                    approvers,
                    standard=standard,
                    model=model,
                    attestations=[dep, sec],
                    valid_until=format_time(until - timedelta(days=p[5] % 3)),
                )
            )
        case "determination":
            model = _pick(log.models or list(MODELS), p[0])
            own = [f for f, m in log.findings if m == model][-3:]
            cited = own if p[1] % 5 else [f for f, _ in log.findings[-2:]] or ["missing-1"]
            if not cited:
                cited = ["missing-2"]
            sid = log.add(
                "capability_determination",
                approvers,
                model=model,
                findings=cited,
                required={
                    "deployment": _pick(["ASL-2", "ASL-3", "ASL-3", "ASL-4"], p[2]),
                    "security": _pick(["ASL-2", "ASL-3", "ASL-3", "ASL-4"], p[3]),
                },
            )
            log.determinations.append((sid, model))
        case "attestation":
            part = "deployment" if p[0] % 2 else "security"
            controls = DEPLOYMENT_CONTROLS if part == "deployment" else SECURITY_CONTROLS
            sid = log.add(
                "safeguard_attestation",
                ["sec"],
                standard="ASL-3" if p[1] % 4 else "ASL-4",
                part=part,
                controls=list(controls) if p[2] % 3 else list(controls[:1]),
                model=None if p[3] % 3 == 0 else _pick(list(MODELS), p[3]),
                scopes=(_subset(SCOPES, 1 + p[4] % 7) if part == "deployment" else []),
                valid_until=format_time(t + timedelta(days=(20, 90, 300, 400)[p[5] % 4])),
            )
            log.attestations.append(sid)
        case "safeguards":
            if not log.attestations:
                return
            cited = list(
                dict.fromkeys(_pick(log.attestations, p[0] + i) for i in range(1 + p[1] % 3))
            )
            sid = log.add(
                "safeguards_determination",
                approvers,
                standard="ASL-3" if p[2] % 4 else "ASL-4",
                model=None if p[3] % 3 == 0 else _pick(list(MODELS), p[3]),
                attestations=cited,
                valid_until=format_time(t + timedelta(days=(25, 100, 300)[p[4] % 3])),
            )
            log.safeguards.append(sid)
        case "notify":
            if not log.determinations:
                return
            recent_dets = log.determinations[-3:]
            log.add(
                "governance_notified",
                ["rso"],
                regarding=_pick(recent_dets, p[0])[0],
                bodies=_subset(("board", "ltbt"), (3, 3, 1, 2)[p[1] % 4]),
            )
        case "deploy" | "undeploy":
            if not log.determinations:
                return
            model = _pick(log.models or list(MODELS), p[0])
            own = [d for d, m in log.determinations if m == model]
            det = own[-1] if own and p[1] % 4 else _pick(log.determinations, p[1])[0]
            recent = log.safeguards[-3:]
            sds = [_pick(recent, p[2] + i) for i in range(p[3] % 3)] if recent else []
            log.add(
                "deployment_decision",
                approvers,
                model=model,
                action="deploy" if act.kind == "deploy" else "undeploy",
                scope=_pick(list(SCOPES), p[4]),
                determination=det,
                safeguards=list(dict.fromkeys(sds)),
            )
        case "withdraw":
            targets = log.attestations[-2:] + log.safeguards[-2:]
            if not targets:
                return
            target = _pick(targets, p[0])
            # From its own recording (voiding everything that relied on it), or a little later.
            since = log.when[target] + timedelta(days=(0, 0, 1, 15, 200)[p[1] % 5])
            log.add(
                "attestation_withdrawn",
                ["sec"],
                statement=target,
                invalid_from=format_time(since),
                reason="control found ineffective",
            )
        case "compromise":
            who = _pick(["sec", "eval", "ceo", "rso"], p[0])
            old = log.key_of[who]
            new = f"{who}#{int(old.split('#')[1]) + 1}"
            log.add("key_added", ["admin"], principal=who, public_key=log.keys.public_key(new))
            log.add(
                "key_revoked",
                ["admin"],
                key_id=log.keys.kid(old),
                reason="compromised" if p[1] % 2 else "rotated",
                **(
                    {"compromised_since": format_time(t - timedelta(days=(0, 3, 20)[p[2] % 3]))}
                    if p[1] % 2
                    else {}
                ),
            )
            log.key_of[who] = new
        case "amend":
            log.policy_version += 1
            doc = copy.deepcopy(POLICY_V1)
            doc["version"] = str(log.policy_version)
            doc["assessment"]["max_age_days"] = (183, 60, 365)[p[0] % 3]
            doc["assessment"]["effective_compute_multiple"] = (4.0, 2.0)[p[1] % 2]
            log.add(
                "policy_adopted",
                ["board"] if p[2] % 4 else ["rso"],
                policy=doc,
                effective_at=format_time(t + timedelta(days=(0, 0, 15)[p[3] % 3])),
            )
        case "report":
            regarding = (
                _pick(log.determinations, p[0])[0] if log.determinations and p[1] % 2 else None
            )
            log.add(
                "noncompliance_reported", ["rso"], regarding=regarding, summary="found in review"
            )
        case "roles":
            log.add("roles_set", ["admin"], principal="ltbt", roles=["ltbt"] if p[0] % 2 else [])
        case _:
            raise AssertionError(act.kind)
