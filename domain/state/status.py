"""Where each model stands at a time t, from the facts of a log position (issue 5).

Everything time-dependent is decided here, with the compliance engine's own rule functions
(`check_fresh`, `check_current`, `check_coverage`, `check_comprehensive`, `check_notified`,
`check_safeguards_level`) applied to the facts, as if a decision were recorded at t right after
the position: "fresh" means a deployment decision recorded now would pass `determination.fresh`;
"in force" means it would pass `safeguards.current`. The status of "now" and of any past time
are computed by the same function; only the facts and t differ.

Invariants:
- the result is a function of (facts, verdicts, position, t) only, and its JSON is deterministic
  (sorted lists, canonical times), so equal inputs give byte-identical output;
- t is never before the position's last `recorded_at` (callers evaluate at or after the log
  position they read);
- the policy is the one in force for an entry after the position at t (SPEC §4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.compliance import Verdict
from domain.compliance.determinations import (
    check_comprehensive,
    check_coverage,
    check_fresh,
    number,
)
from domain.compliance.history import History
from domain.compliance.safeguards import (
    SafeguardsBasis,
    check_current,
    check_notified,
    check_safeguards_level,
)
from domain.compliance.timeline import InForce, PolicyTimeline
from domain.ids import format_time
from domain.log import LogRecord
from domain.policy import PARTS, PolicyDocument, label_of
from domain.statements import (
    CapabilityFinding,
    DeploymentDecision,
    ModelRegistered,
)

from .facts import ModelFacts, OrgFacts, SafeguardsFacts

STATUS_FORMAT = "rsp-ledger.status/v1"
# Issue 5: what is about to lapse — safeguards or a determination within this window.
LAPSE_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Position:
    """The last entry a status was computed from."""

    last_seq: int
    last_recorded_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.last_seq + 1,
            "last_seq": self.last_seq,
            "last_recorded_at": format_time(self.last_recorded_at)
            if self.last_recorded_at
            else None,
        }


@dataclass(frozen=True, slots=True)
class Obligation:
    kind: str
    message: str
    regarding: str | None = None
    due: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "regarding": self.regarding,
            "due": format_time(self.due) if self.due else None,
        }


@dataclass(frozen=True, slots=True)
class SafeguardsInForce:
    basis: SafeguardsBasis
    expires: datetime  # the earliest valid_until of the determination and its attestations

    @property
    def parts(self) -> list[str]:
        return list(self.basis.parts())

    @property
    def scopes(self) -> list[str]:
        # SPEC §5 deployment.scope: every deployment attestation must include the scope.
        sets = [set(a.scopes) for _, a in self.basis.attestations if a.part == "deployment"]
        return sorted(set.intersection(*sets)) if sets else []

    def to_json(self, part: str) -> dict[str, Any]:
        """As listed under `part`: the attestations for that part, and for the deployment part
        the scopes every one of them covers."""
        sd = self.basis.determination
        return {
            "statement": sd.id,
            "seq": self.basis.record.seq,
            "standard": sd.standard,
            "model": sd.model,
            "scopes": self.scopes if part == "deployment" else [],
            "expires": format_time(self.expires),
            "attestations": [a.id for _, a in self.basis.attestations if a.part == part],
        }


@dataclass(frozen=True, slots=True)
class Freshness:
    """SPEC §5 determination.fresh for a decision recorded at t, and when that will change."""

    fresh: bool
    until: datetime | None  # (b): the oldest cited finding + max_age_days
    multiple: float
    smallest_compute: float | None  # of the cited findings
    greatest_compute: float | None  # recorded for the model
    reasons: tuple[str, ...]

    @property
    def compute_limit(self) -> float | None:
        return None if self.smallest_compute is None else self.multiple * self.smallest_compute

    def summary(self) -> str:
        if not self.fresh:
            return "stale: " + "; ".join(self.reasons)
        parts = []
        if self.until is not None:
            parts.append(f"until {self.until.date().isoformat()}")
        if self.smallest_compute is not None:
            multiple = (
                f"{self.multiple:.1f}"
                if self.multiple == int(self.multiple)
                else number(self.multiple)
            )
            parts.append(
                f"until effective compute reaches {multiple}× {number(self.smallest_compute)}"
            )
        return "fresh " + ", or ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "fresh": self.fresh,
            "summary": self.summary(),
            "until": format_time(self.until) if self.until else None,
            "effective_compute_multiple": self.multiple,
            "smallest_finding_compute": self.smallest_compute,
            "compute_limit": self.compute_limit,
            "effective_compute": self.greatest_compute,
            "reasons": list(self.reasons),
        }


def policy_timeline(org: OrgFacts) -> PolicyTimeline:
    """The engine's policy timeline, rebuilt from the amendments that came into force."""
    timeline = PolicyTimeline()
    for a in org.adoptions:
        if a.came_into_force:
            timeline.adopt(
                PolicyDocument.parse(a.statement.policy),
                a.statement.id,
                seq=a.record.seq,
                recorded_at=a.record.recorded_at,
                effective_at=a.statement.effective_at,
            )
    return timeline


def duties_imposed(org: OrgFacts) -> bool:
    """Whether a policy imposing duties over time (policy v2) has come into force. Then a
    verdict depends on the time it is evaluated at: a duty whose deadline passes with nothing
    recorded shows, as missed, on the statement that started its clock (docs/rules.md
    "Duties"), with no entry about that statement."""
    return any(
        a.came_into_force and bool(PolicyDocument.parse(a.statement.policy).duties_imposed())
        for a in org.adoptions
    )


def _in_force_json(found: InForce) -> dict[str, Any]:
    return {
        "policy": found.policy.label,
        "statement": found.statement,
        "seq": found.seq,
        "effective": format_time(found.effective),
    }


class StatusView:
    """Evaluates facts at time t, after log position `position`."""

    def __init__(
        self,
        org: OrgFacts,
        org_safeguards: Sequence[SafeguardsFacts],
        verdicts: Mapping[str, Verdict],
        position: Position,
        t: datetime,
    ) -> None:
        self.org = org
        self.verdicts = verdicts
        self.position = position
        self.t = t
        self._timeline = policy_timeline(org)
        self.in_force = self._timeline.in_force(position.last_seq + 1, t)
        self.policy = self.in_force.policy if self.in_force else None
        self._parents = {m: parent for m, _, parent in org.registrations}
        self.org_safeguards = self._in_force(org_safeguards)

    # -- shared ------------------------------------------------------------------------------
    def _verdict_kind(self, statement_id: str) -> str | None:
        v = self.verdicts.get(statement_id)
        return v.verdict if v is not None else None

    def _in_force(self, safeguards: Sequence[SafeguardsFacts]) -> list[SafeguardsInForce]:
        """Safeguards determinations that are compliant and would pass safeguards.current at t."""
        if self.policy is None:
            return []
        found = []
        for s in safeguards:
            if self._verdict_kind(s.record.statement.id) != "compliant":
                continue
            basis = SafeguardsBasis.of(s.record, s.attestations)
            history = History()
            history.withdrawals.update({target: list(ws) for target, ws in s.withdrawals})
            if check_current(self.policy, [basis], self.t, history):
                continue
            found.append(SafeguardsInForce(basis, s.expires))
        return found

    @staticmethod
    def _by_part(found: Sequence[SafeguardsInForce]) -> dict[str, list[dict[str, Any]]]:
        return {
            part: [
                f.to_json(part)
                for f in sorted(found, key=lambda f: f.basis.record.seq)
                if part in f.parts
            ]
            for part in PARTS
        }

    # -- the organisation --------------------------------------------------------------------
    def organisation(self, org_verdicts: Sequence[Verdict]) -> dict[str, Any]:
        scheduled = []
        for a in self.org.adoptions:
            if a.came_into_force and a.effective > self.t:
                scheduled.append(
                    {
                        "policy": label_of(a.statement.policy),
                        "statement": a.statement.id,
                        "seq": a.record.seq,
                        "effective": format_time(a.effective),
                    }
                )
        scheduled.sort(key=lambda s: (s["effective"], s["seq"]))
        obligations: list[Obligation] = []
        if self.policy is None:
            obligations.append(
                Obligation("policy", f"no policy is in force at {format_time(self.t)}")
            )
        for f in self.org_safeguards:
            obligations.extend(self._expiring(f))
        keys_by_principal: dict[str, list[dict[str, Any]]] = {}
        for k in self.org.keys:
            revoked = None
            if k.revoked_seq is not None:
                revoked = {
                    "seq": k.revoked_seq,
                    "reason": k.revoked_reason,
                    "compromised_since": format_time(k.compromised_since)
                    if k.compromised_since
                    else None,
                }
            keys_by_principal.setdefault(k.principal, []).append(
                {"key_id": k.key_id, "added_seq": k.added_seq, "revoked": revoked}
            )
        principals = [
            {
                "principal": p.principal,
                "roles": sorted(p.roles),
                "registered_seq": p.registered_seq,
                "keys": sorted(
                    keys_by_principal.get(p.principal, []), key=lambda k: k["added_seq"]
                ),
            }
            for p in self.org.principals
        ]
        return {
            "policy_in_force": _in_force_json(self.in_force) if self.in_force else None,
            "scheduled": scheduled,
            "safeguards_in_force": self._by_part(self.org_safeguards),
            "obligations": [o.to_json() for o in obligations],
            "principals": principals,
            "verdicts": [v.to_json() for v in org_verdicts],
        }

    def _expiring(self, f: SafeguardsInForce) -> list[Obligation]:
        if f.expires < self.t + LAPSE_WINDOW:
            sd = f.basis.determination
            return [
                Obligation(
                    "safeguards_expiring",
                    f"{sd.standard} safeguards {sd.id!r} ({', '.join(f.parts)}) expire at "
                    f"{format_time(f.expires)}, within {LAPSE_WINDOW.days} days",
                    sd.id,
                    f.expires,
                )
            ]
        return []

    # -- a model -----------------------------------------------------------------------------
    def lineage(self, model: str) -> dict[str, list[str]]:
        ancestors: list[str] = []
        seen = {model}
        parent = self._parents.get(model)
        while parent is not None and parent not in seen:
            ancestors.append(parent)
            seen.add(parent)
            parent = self._parents.get(parent)
        children = sorted(m for m, p in self._parents.items() if p == model)
        return {"ancestors": ancestors, "children": children}

    def freshness(self, facts: ModelFacts) -> Freshness | None:
        det = facts.determination
        if det is None or self.policy is None:
            return None
        history = History()
        if facts.greatest_compute is not None:
            history.greatest_compute[facts.model] = facts.greatest_compute
        # The very rule a decision recorded at t would be judged by.
        reasons = check_fresh(self.policy, det.findings, facts.model, self.t, history)
        computes = [
            r.statement.effective_compute
            for r in det.findings
            if isinstance(r.statement, CapabilityFinding)
        ]
        until = None
        window = self.policy.max_age
        if det.findings and window is not None:
            # SPEC §5 determination.fresh (b): the oldest cited finding bounds the age.
            oldest = min(det.findings, key=lambda r: (r.recorded_at, r.seq))
            try:
                until = oldest.recorded_at + window
            except OverflowError:
                until = None  # a window beyond the calendar never ends
        greatest = facts.greatest_compute
        return Freshness(
            fresh=not reasons,
            until=until,
            multiple=self.policy.assessment.effective_compute_multiple,
            smallest_compute=min(computes) if computes else None,
            greatest_compute=greatest.effective_compute if greatest else None,
            reasons=tuple(reasons),
        )

    def model(
        self,
        facts: ModelFacts,
        safeguards: Sequence[SafeguardsFacts],
        model_verdicts: Sequence[Verdict],
    ) -> dict[str, Any]:
        own = self._in_force(safeguards)
        deployments = facts.deployment_decisions()
        cited_by_deployments = {sid for d in deployments.values() for sid in d.safeguards}
        relied_org = [
            f for f in self.org_safeguards if f.basis.determination.id in cited_by_deployments
        ]
        in_force = own + self.org_safeguards
        freshness = self.freshness(facts)
        obligations = self._obligations(facts, freshness, in_force)
        for f in own + relied_org:
            obligations.extend(self._expiring(f))
        return {
            "model": facts.model,
            "registration": _registration_json(facts.registration),
            "lineage": self.lineage(facts.model),
            "effective_compute": {
                "greatest": facts.greatest_compute.effective_compute,
                "statement": facts.greatest_compute.statement,
            }
            if facts.greatest_compute
            else None,
            "determination": self._determination_json(facts),
            "freshness": freshness.to_json() if freshness else None,
            "safeguards_in_force": self._by_part(in_force),
            "deployments": [
                _deployment_json(scope, record, self._verdict_kind(record.statement.id))
                for scope, record in facts.deployments
            ],
            "obligations": [o.to_json() for o in obligations],
            "verdicts": [v.to_json() for v in model_verdicts],
        }

    def _determination_json(self, facts: ModelFacts) -> dict[str, Any] | None:
        det = facts.determination
        if det is None:
            return None
        st = det.statement
        v = self.verdicts.get(st.id)
        return {
            "statement": st.id,
            "seq": det.record.seq,
            "recorded_at": format_time(det.record.recorded_at),
            "required": {"deployment": st.required.deployment, "security": st.required.security},
            "verdict": v.verdict if v else None,
            "policy": v.policy if v else None,
            "findings": [_finding_json(f) for f in det.findings],
            "notified": list(det.notified),
        }

    def _obligations(
        self,
        facts: ModelFacts,
        freshness: Freshness | None,
        in_force: Sequence[SafeguardsInForce],
    ) -> list[Obligation]:
        out: list[Obligation] = []
        if facts.registration is None:
            out.append(
                Obligation("registration", f"model {facts.model!r} has entries but no registration")
            )
        det = facts.determination
        policy = self.policy
        if det is None:
            out.append(
                Obligation(
                    "capability_determination",
                    f"no capability determination is recorded for model {facts.model!r}",
                )
            )
            return out
        if policy is None:
            return out
        sid = det.statement.id
        findings = [r.statement for r in det.findings if isinstance(r.statement, CapabilityFinding)]
        for message in check_coverage(policy, findings):
            out.append(Obligation("assessment", f"{sid!r}: {message}", sid))
        for message in check_comprehensive(policy, findings):
            out.append(Obligation("comprehensive_assessment", f"{sid!r}: {message}", sid))
        if freshness is not None:
            if not freshness.fresh:
                out.append(
                    Obligation(
                        "reassessment",
                        f"a new capability determination: {sid!r} is stale (see freshness)",
                        sid,
                    )
                )
            elif freshness.until is not None and freshness.until < self.t + LAPSE_WINDOW:
                out.append(
                    Obligation(
                        "reassessment",
                        f"{sid!r} goes stale at {format_time(freshness.until)}, within "
                        f"{LAPSE_WINDOW.days} days",
                        sid,
                        freshness.until,
                    )
                )
        history = History()
        history.notified[sid] = set(det.notified)
        for message in check_notified(policy, det.statement.required, sid, history):
            out.append(Obligation("notification", message, sid))
        for message in check_safeguards_level(
            policy, det.statement.required, [f.basis for f in in_force]
        ):
            out.append(
                Obligation(
                    "safeguards", f"{sid!r} requires safeguards not in force: {message}", sid
                )
            )
        return out


def _registration_json(record: LogRecord | None) -> dict[str, Any] | None:
    if record is None or not isinstance(record.statement, ModelRegistered):
        return None
    st = record.statement
    return {
        "statement": st.id,
        "seq": record.seq,
        "recorded_at": format_time(record.recorded_at),
        "name": st.name,
        "parent": st.parent,
        "effective_compute": st.effective_compute,
    }


def _finding_json(record: LogRecord) -> dict[str, Any]:
    st = record.statement
    assert isinstance(st, CapabilityFinding)
    return {
        "statement": st.id,
        "seq": record.seq,
        "recorded_at": format_time(record.recorded_at),
        "threshold": st.threshold,
        "assessment": st.assessment,
        "outcome": st.outcome,
        "effective_compute": st.effective_compute,
    }


def _deployment_json(scope: str, record: LogRecord, verdict: str | None) -> dict[str, Any]:
    st = record.statement
    assert isinstance(st, DeploymentDecision)
    return {
        "scope": scope,
        "decision": st.id,
        "seq": record.seq,
        "recorded_at": format_time(record.recorded_at),
        "determination": st.determination,
        "safeguards": list(st.safeguards),
        "verdict": verdict,
    }


def status_json(
    view: StatusView,
    models: Sequence[tuple[ModelFacts, Sequence[SafeguardsFacts], Sequence[Verdict]]],
    org_verdicts: Sequence[Verdict],
) -> dict[str, Any]:
    """The whole status document of issue 5 (`rsp-ledger status --json`)."""
    return {
        "format": STATUS_FORMAT,
        "as_of": format_time(view.t),
        "log": view.position.to_json(),
        "organisation": view.organisation(org_verdicts),
        "models": [view.model(f, s, v) for f, s, v in models],
    }
