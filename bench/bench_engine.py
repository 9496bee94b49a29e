"""The compliance engine over synthetic histories of 10k, 100k and 1M records (issue 4).

The history is a realistic mix, built directly as `LogRecord`s (no signing, no storage): a lab
with 500 models, each cycle of work being compute measured, findings against every threshold, a
capability determination, deployment and security attestations, a safeguards determination, the
Board and LTBT notified, and a deployment decision; amendments every few thousand records;
withdrawals, undeploys, key rotations and the odd key compromise, so that the invalidation
indexes are exercised too.

What matters is the scaling: records/s should stay roughly constant as the history grows
(linear time). Each size is printed with its ratio to the smallest run, measured in the same
process, because the machines are shared and noisy.

    python -m bench engine            # 10k, 100k, 1M
    python -m bench.bench_engine 10000 50000
"""

from __future__ import annotations

import base64
import gc
import hashlib
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._policy import DEPLOYMENT, SECURITY, THRESHOLDS, bench_policy
from domain.compliance import ComplianceEngine, summary
from domain.log import LogRecord
from domain.registry import key_id_of
from domain.statements import (
    AttestationWithdrawn,
    CapabilityDetermination,
    CapabilityFinding,
    ComputeMeasured,
    DeploymentDecision,
    GovernanceNotified,
    KeyAdded,
    KeyRevoked,
    LedgerGenesis,
    ModelRegistered,
    PolicyAdopted,
    PrincipalRegistered,
    RequiredLevels,
    SafeguardAttestation,
    SafeguardsDetermination,
    Statement,
)

SIZES = (10_000, 100_000, 1_000_000)
MODELS = 500
T0 = datetime(2020, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=20)

ROLES = {
    "ceo": ["ceo"],
    "rso": ["responsible-scaling-officer"],
    "sec": ["security-lead"],
    "board": ["board"],
    "ltbt": ["ltbt"],
    "eval": ["evaluator"],
}


def _key(name: str) -> str:
    return base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()


class _History:
    """Builds records with `model_construct` (well-formed by construction, no validation cost)."""

    def __init__(self) -> None:
        self.records: list[LogRecord] = []
        self.t = T0
        self.eval_key = 0

    def add(self, cls: type[Any], signers: tuple[str, ...], **fields: Any) -> str:
        sid = f"s{len(self.records)}"
        statement: Statement = cls.model_construct(
            id=sid, issued_at=self.t, issuer="x", details_digest=None, note=None, **fields
        )
        key_ids = tuple(key_id_of(_key(s)) for s in signers)
        self.records.append(LogRecord(len(self.records), self.t, statement, key_ids))
        self.t += STEP
        return sid

    @property
    def evaluator(self) -> str:
        return f"eval#{self.eval_key}"


def synthetic_history(size: int) -> list[LogRecord]:
    """About `size` records of a lab's life, in seq order."""
    h = _History()
    genesis = LedgerGenesis.model_validate(
        {
            "type": "ledger_genesis",
            "id": "genesis",
            "issued_at": "2020-01-01T00:00:00Z",
            "issuer": "admin",
            "origin": "bench.example/rsp-ledger",
            "time_source": "asserted",
            "admins": [{"principal": "admin", "public_key": _key("admin")}],
        }
    )
    h.records.append(LogRecord(0, h.t, genesis, (key_id_of(_key("admin")),)))
    h.t += STEP
    for name, roles in ROLES.items():
        key = name if name != "eval" else "eval#0"
        h.add(
            PrincipalRegistered,
            ("admin",),
            type="principal_registered",
            principal=name,
            roles=roles,
            public_keys=[_key(key)],
        )
    version = 1
    h.add(
        PolicyAdopted,
        ("admin",),
        type="policy_adopted",
        policy=bench_policy(version),
        effective_at=h.t,
    )
    compute: dict[str, float] = {}
    cycle = 0
    last_attestation = ""
    while len(h.records) < size:
        cycle += 1
        model = f"m{cycle % MODELS}"
        if model not in compute:
            compute[model] = 1e24
            h.add(
                ModelRegistered,
                (h.evaluator,),
                type="model_registered",
                model=model,
                name=model,
                parent=None,
                effective_compute=compute[model],
            )
        compute[model] *= 1.01
        c = compute[model]
        h.add(
            ComputeMeasured,
            (h.evaluator,),
            type="compute_measured",
            model=model,
            effective_compute=c,
        )
        crossed = cycle % 3 == 0
        findings = [
            h.add(
                CapabilityFinding,
                (h.evaluator,),
                type="capability_finding",
                model=model,
                threshold=threshold,
                assessment="comprehensive",
                outcome="crossed" if crossed and threshold == "CBRN-3" else "ruled_out",
                effective_compute=c,
                evaluations=[],
            )
            for threshold in THRESHOLDS
        ]
        level = "ASL-3" if crossed else "ASL-2"
        determination = h.add(
            CapabilityDetermination,
            ("ceo", "rso"),
            type="capability_determination",
            model=model,
            findings=findings,
            required=RequiredLevels.model_construct(deployment=level, security=level),
        )
        safeguards: list[str] = []
        if crossed:
            until = h.t + timedelta(days=300)
            att_dep = h.add(
                SafeguardAttestation,
                ("sec",),
                type="safeguard_attestation",
                standard="ASL-3",
                part="deployment",
                controls=DEPLOYMENT,
                model=model if cycle % 2 else None,
                scopes=["internal", "trusted", "external"],
                valid_until=until,
            )
            att_sec = h.add(
                SafeguardAttestation,
                ("sec",),
                type="safeguard_attestation",
                standard="ASL-3",
                part="security",
                controls=SECURITY,
                model=model if cycle % 2 else None,
                scopes=[],
                valid_until=until,
            )
            safeguards.append(
                h.add(
                    SafeguardsDetermination,
                    ("ceo", "rso"),
                    type="safeguards_determination",
                    standard="ASL-3",
                    model=model,
                    attestations=[att_dep, att_sec],
                    valid_until=until,
                )
            )
            h.add(
                GovernanceNotified,
                ("rso",),
                type="governance_notified",
                regarding=determination,
                bodies=["board", "ltbt"],
            )
            last_attestation = att_dep
        h.add(
            DeploymentDecision,
            # One decision in fifty lacks the CEO's signature (noncompliant).
            ("rso",) if cycle % 50 == 0 else ("ceo", "rso"),
            type="deployment_decision",
            model=model,
            action="deploy",
            scope="external",
            determination=determination,
            safeguards=safeguards,
        )
        if cycle % 40 == 0:
            h.add(
                DeploymentDecision,
                ("ceo", "rso"),
                type="deployment_decision",
                model=model,
                action="undeploy",
                scope="external",
                determination=determination,
                safeguards=[],
            )
        if cycle % 97 == 0 and last_attestation:
            # Withdrawn from a moment ago: it voids the decisions of this cycle (invalidated).
            h.add(
                AttestationWithdrawn,
                ("sec",),
                type="attestation_withdrawn",
                statement=last_attestation,
                invalid_from=h.t - STEP * 3,
                reason="control found ineffective",
            )
        if cycle % 1500 == 0:
            # The evaluator rotates keys; one rotation in four is a compromise since a minute ago.
            old = h.evaluator
            h.eval_key += 1
            h.add(
                KeyAdded,
                ("admin",),
                type="key_added",
                principal="eval",
                public_key=_key(h.evaluator),
            )
            compromised = cycle % 6000 == 0
            h.add(
                KeyRevoked,
                ("admin",),
                type="key_revoked",
                key_id=key_id_of(_key(old)),
                reason="compromised" if compromised else "rotated",
                compromised_since=h.t - STEP * 30 if compromised else None,
            )
        if cycle % 2500 == 0:
            version += 1
            h.add(
                PolicyAdopted,
                ("board",),
                type="policy_adopted",
                policy=bench_policy(version),
                effective_at=h.t + STEP * 10,
            )
    return h.records[:size]


def _time(records: list[LogRecord]) -> tuple[float, dict[str, int]]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        engine = ComplianceEngine()
        add = engine.add
        for record in records:
            add(record)
        verdicts = engine.verdicts()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed, summary(verdicts, entries=len(records))


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or list(SIZES)
    base_rate: float | None = None
    print(
        f"{'records':>10} {'build s':>8} {'judge s':>8} {'records/s':>10} {'vs first':>8}  verdicts"
    )
    for size in sizes:
        start = time.perf_counter()
        records = synthetic_history(size)
        built = time.perf_counter() - start
        elapsed, counts = _time(records)
        rate = size / elapsed
        base_rate = base_rate or rate
        kinds = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "entries")
        print(
            f"{size:>10} {built:>8.1f} {elapsed:>8.2f} {rate:>10.0f} {rate / base_rate:>8.2f}  "
            f"{kinds}",
            flush=True,
        )
        del records
    print("linear time: records/s stays roughly constant (ratio near 1.0) as the log grows")


if __name__ == "__main__":
    main(sys.argv[1:])
