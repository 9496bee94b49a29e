"""Which rules of SPEC §5 apply to a statement, and its verdict on what was known when recorded.

`judge_record` reads a `History` of exactly the entries before the record and the policies in
force; it changes nothing, which is what lets `ComplianceEngine.preview` be a dry run.

What is judged (SPEC §5): capability and safeguards determinations, `deploy` decisions and
amendments always; any other statement only when the policy in force names its type in
`approvals`, and then only by `policy.in-force` and `signers.approved`, relying on itself. Under a
policy v2 (docs/rules.md "Policy v2"), also a statement that `approvals_if` names and whose fields
meet the condition, and a statement that starts or meets a duty (`duties.DutyEffect`), which then
also gets the duty's rule.

Invariants:
- every verdict is `noncompliant` exactly when some rule failed; otherwise it is `invalidated`
  when a cited statement already is (SPEC §5 evidence.compliant), else `compliant`;
- with no policy in force, the rules that need a policy are not evaluated (they have nothing to
  read) and `policy.in-force` fails; the rest still are (docs/rules.md);
- rules that read a determination are evaluated only when it was validly cited (SPEC §5 "Bad
  citations").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from sys import intern

from domain.ids import format_time
from domain.log import LogRecord
from domain.policy import LEDGER_ADMIN_ROLE, PolicyDocument, label_of, policy_problems
from domain.policy_v2 import describe_condition
from domain.statements import (
    CapabilityDetermination,
    CapabilityFinding,
    DeploymentDecision,
    PolicyAdopted,
    SafeguardsDetermination,
    statement_model,
)

from . import rules as R
from .approvals import check_signers_approved, signer_roles
from .determinations import (
    check_comprehensive,
    check_coverage,
    check_fresh,
    check_latest,
    check_level,
    check_model_registered,
    check_safety_cases,
)
from .duties import DutyEffect
from .evidence import (
    Citations,
    check_evidence_compliant,
    cited_by_determination,
    relied_upon,
    resolve_citations,
    voidings_known,
)
from .history import History
from .safeguards import (
    SafeguardsBasis,
    check_controls,
    check_current,
    check_notified,
    check_safeguards_level,
    check_scope,
)
from .timeline import PolicyTimeline
from .verdicts import FailedRule, Verdict, VerdictKind


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict, and what the engine must remember to keep it up to date."""

    verdict: Verdict
    # SPEC §5 "Void evidence": the statements J relies on (J first).
    relies_on: tuple[LogRecord, ...]
    # For determinations: the citations that later rules may read (SPEC §5 "Bad citations").
    valid_citations: tuple[str, ...] | None = None
    # For an amendment that passes signers.approved and amendment.valid (SPEC §4).
    comes_into_force: PolicyDocument | None = None


# The tuples of rules checked, one copy of each (there are a few dozen combinations at most).
_CHECKED: dict[tuple[str, ...], tuple[str, ...]] = {}


class _Report:
    """The rules evaluated for one statement and the reasons those that failed gave."""

    __slots__ = ("checked", "failed")

    def __init__(self, duties: DutyEffect | None = None) -> None:
        self.checked: set[str] = set()
        self.failed: dict[str, list[str]] = {}
        if duties is not None:
            # Duty rules (policy v2): a duty met on time holds, late fails (docs/rules.md).
            for rule, problems in duties.checks.items():
                self.rule(rule, problems)

    def rule(self, rule: str, problems: Iterable[str]) -> bool:
        """Record that `rule` was evaluated; True when it holds."""
        self.checked.add(rule)
        found = list(problems)
        if found:
            self.failed.setdefault(rule, []).extend(found)
        return not found

    def verdict(
        self, record: LogRecord, policy: str | None, invalidated_by: tuple[str, ...]
    ) -> Verdict:
        failed = tuple(
            FailedRule(rule, "; ".join(self.failed[rule]))
            for rule in R.ALL_RULE_IDS
            if rule in self.failed
        )
        checked = tuple(rule for rule in R.ALL_RULE_IDS if rule in self.checked)
        checked = _CHECKED.setdefault(checked, checked)
        st = record.statement
        model = statement_model(st)
        kind: VerdictKind
        by: tuple[str, ...] = ()
        if failed:
            kind = "noncompliant"
        elif invalidated_by:
            kind, by = "invalidated", invalidated_by
        else:
            kind = "compliant"
        return Verdict(
            seq=record.seq,
            statement=st.id,
            # Memory: a verdict is kept for every judged statement; its short strings repeat.
            type=intern(st.type),
            model=intern(model) if model is not None else None,
            policy=intern(policy) if policy is not None else None,
            verdict=kind,
            failed=failed,
            invalidated_by=by,
            checked=checked,
        )


def judge_record(
    record: LogRecord,
    history: History,
    timeline: PolicyTimeline,
    duties: DutyEffect | None = None,
) -> Judgement | None:
    """The judgement of `record` as the next entry after `history`, or None if not judged.

    `duties` is what the record does to the duties of the policy in force (`DutyTracker.assess`);
    None, or an effect with nothing in it, leaves the judgement exactly that of SPEC §5."""
    st = record.statement
    in_force = timeline.in_force(record.seq, record.recorded_at)
    policy = in_force.policy if in_force is not None else None
    match st:
        case PolicyAdopted():
            return _judge_amendment(_Report(duties), record, st, policy, history)
        case CapabilityDetermination():
            return _judge_capability(_Report(duties), record, st, policy, history)
        case SafeguardsDetermination():
            return _judge_safeguards(_Report(duties), record, st, policy, history)
        case DeploymentDecision() if st.action == "deploy":
            return _judge_deployment(_Report(duties), record, st, policy, history)
        case _:
            pass
    # SPEC §5: any other statement is judged when P's approvals names its type, by
    # policy.in-force and signers.approved only, and relies on itself only. Policy v2 adds the
    # statements approvals_if names (when they meet its condition) and those that start or meet
    # a duty.
    if policy is None:
        return None
    if policy.required_roles(st) is None and not (duties is not None and duties.judged):
        return None
    report = _Report(duties)
    report.rule(R.POLICY_IN_FORCE, ())
    _signers_approved(report, record, policy, history)
    return Judgement(report.verdict(record, policy.label, ()), (record,))


# -- shared rules --------------------------------------------------------------------------------


def _policy_in_force(report: _Report, record: LogRecord, policy: PolicyDocument | None) -> None:
    report.rule(
        R.POLICY_IN_FORCE,
        ()
        if policy is not None
        else (
            f"no policy is in force at {format_time(record.recorded_at)}: no amendment recorded "
            f"before seq {record.seq} had come into force and taken effect by then",
        ),
    )


def _signers_approved(
    report: _Report, record: LogRecord, policy: PolicyDocument | None, history: History
) -> None:
    # SPEC §5 signers.approved applies to every type that P's approvals names (and, under a
    # policy v2, to a statement meeting a condition of approvals_if, with its roles added).
    if policy is None:
        return
    roles = policy.required_roles(record.statement)
    if roles is not None:
        signers = signer_roles(record, history.registry)
        problems = check_signers_approved(roles, signers)
        report.rule(R.SIGNERS_APPROVED, [p + _escalated(policy, record) for p in problems])


def _escalated(policy: PolicyDocument, record: LogRecord) -> str:
    """Why more roles than approvals[type] were needed, if they were (policy v2 approvals_if)."""
    st = record.statement
    why = [
        f"{', '.join(c.roles)} because {describe_condition(c.when)}" for c in policy.escalations(st)
    ]
    if not why:
        return ""
    return f" ({policy.label} also requires {'; '.join(why)})"


@dataclass(frozen=True, slots=True)
class _Evidence:
    citations: Citations
    relies_on: tuple[LogRecord, ...]
    invalidated_by: tuple[str, ...]


def _evidence(report: _Report, record: LogRecord, history: History) -> _Evidence:
    citations = resolve_citations(record, history)
    relied = relied_upon(record, citations, history)
    # SPEC §5 evidence.cited: ... and nothing J relies on is void as known at t.
    void = voidings_known(relied, record.recorded_at, history)
    report.rule(R.EVIDENCE_CITED, [*citations.problems, *(v.reason for v in void)])
    cited = check_evidence_compliant(citations.valid, history)
    report.rule(R.EVIDENCE_COMPLIANT, cited.problems)
    return _Evidence(citations, relied, cited.invalidated_by)


# -- per type ------------------------------------------------------------------------------------


def _judge_amendment(
    report: _Report,
    record: LogRecord,
    st: PolicyAdopted,
    policy: PolicyDocument | None,
    history: History,
) -> Judgement:
    # SPEC §4 "Bootstrap": with no policy in force, an amendment is judged under itself,
    # policy.in-force holds, and a ledger-admin must sign it.
    report.rule(R.POLICY_IN_FORCE, ())
    roles: tuple[str, ...]
    if policy is None:
        label, roles = label_of(st.policy), (LEDGER_ADMIN_ROLE,)
    else:
        # SPEC §4: later amendments need approvals.policy_adopted of the policy in force, or a
        # ledger-admin where it names none.
        label = policy.label
        roles = policy.required_roles(st) or (LEDGER_ADMIN_ROLE,)
    approved = report.rule(
        R.SIGNERS_APPROVED,
        check_signers_approved(roles, signer_roles(record, history.registry)),
    )
    report.rule(R.AMENDMENT_EFFECTIVE, _retroactive(st.effective_at, record.recorded_at))
    valid = report.rule(R.AMENDMENT_VALID, policy_problems(st.policy))
    # SPEC §4: it comes into force unless it fails signers.approved or amendment.valid.
    document = PolicyDocument.parse(st.policy) if approved and valid else None
    return Judgement(report.verdict(record, label, ()), (record,), comes_into_force=document)


def _retroactive(effective_at: datetime, recorded_at: datetime) -> list[str]:
    # SPEC §5 amendment.effective: effective_at ≥ recorded_at.
    if effective_at >= recorded_at:
        return []
    return [
        f"effective_at {format_time(effective_at)} is before its recorded_at "
        f"{format_time(recorded_at)}: a retroactive amendment takes effect only from its recording"
    ]


def _judge_capability(
    report: _Report,
    record: LogRecord,
    st: CapabilityDetermination,
    policy: PolicyDocument | None,
    history: History,
) -> Judgement:
    _policy_in_force(report, record, policy)
    _signers_approved(report, record, policy, history)
    evidence = _evidence(report, record, history)
    findings = [
        r.statement for r in evidence.citations.valid if isinstance(r.statement, CapabilityFinding)
    ]
    report.rule(R.MODEL_REGISTERED, check_model_registered(st.model, history))
    if policy is not None:
        report.rule(R.DETERMINATION_COVERAGE, check_coverage(policy, findings))
        report.rule(R.DETERMINATION_COMPREHENSIVE, check_comprehensive(policy, findings))
        report.rule(R.DETERMINATION_LEVEL, check_level(policy, st.required, findings))
    return Judgement(
        report.verdict(record, policy.label if policy else None, evidence.invalidated_by),
        evidence.relies_on,
        valid_citations=tuple(r.statement.id for r in evidence.citations.valid),
    )


def _judge_safeguards(
    report: _Report,
    record: LogRecord,
    st: SafeguardsDetermination,
    policy: PolicyDocument | None,
    history: History,
) -> Judgement:
    _policy_in_force(report, record, policy)
    _signers_approved(report, record, policy, history)
    evidence = _evidence(report, record, history)
    basis = SafeguardsBasis.of(record, evidence.citations.valid)
    if policy is not None:
        report.rule(R.SAFEGUARDS_CONTROLS, check_controls(policy, basis))
        report.rule(
            R.SAFEGUARDS_CURRENT, check_current(policy, [basis], record.recorded_at, history)
        )
    return Judgement(
        report.verdict(record, policy.label if policy else None, evidence.invalidated_by),
        evidence.relies_on,
        valid_citations=tuple(r.statement.id for r in evidence.citations.valid),
    )


def _judge_deployment(
    report: _Report,
    record: LogRecord,
    st: DeploymentDecision,
    policy: PolicyDocument | None,
    history: History,
) -> Judgement:
    t = record.recorded_at
    _policy_in_force(report, record, policy)
    _signers_approved(report, record, policy, history)
    evidence = _evidence(report, record, history)
    determination: CapabilityDetermination | None = None
    bases: list[SafeguardsBasis] = []
    for cited in evidence.citations.valid:
        match cited.statement:
            case CapabilityDetermination() if cited.statement.id == st.determination:
                determination = cited.statement
            case SafeguardsDetermination():
                attestations = cited_by_determination(cited.statement.id, history)
                bases.append(SafeguardsBasis.of(cited, attestations))
            case _:
                pass
    report.rule(R.MODEL_REGISTERED, check_model_registered(st.model, history))
    if determination is not None:
        report.rule(R.DETERMINATION_LATEST, check_latest(determination.id, st.model, history))
    if policy is not None:
        if determination is not None:
            # SPEC §5: the decision's own policy judges the determination's coverage and
            # freshness, so an amendment can make an older determination fall short.
            finding_records = cited_by_determination(determination.id, history)
            findings = [
                r.statement for r in finding_records if isinstance(r.statement, CapabilityFinding)
            ]
            report.rule(R.DETERMINATION_COVERAGE, check_coverage(policy, findings))
            report.rule(R.DETERMINATION_COMPREHENSIVE, check_comprehensive(policy, findings))
            report.rule(
                R.DETERMINATION_FRESH, check_fresh(policy, finding_records, st.model, t, history)
            )
            report.rule(
                R.SAFEGUARDS_LEVEL, check_safeguards_level(policy, determination.required, bases)
            )
        report.rule(R.SAFEGUARDS_CONTROLS, [p for b in bases for p in check_controls(policy, b)])
        report.rule(R.SAFEGUARDS_CURRENT, check_current(policy, bases, t, history))
        deployment_level = determination.required.deployment if determination else None
        report.rule(R.DEPLOYMENT_SCOPE, check_scope(policy, st.scope, deployment_level, bases))
        if determination is not None:
            report.rule(
                R.GOVERNANCE_NOTIFIED,
                check_notified(policy, determination.required, determination.id, history),
            )
        if determination is not None and policy.requires_safety_cases:
            # Policy v2: a model that crossed a threshold reaches some scopes only with an
            # approved safety case (docs/rules.md safety-case.approved).
            report.rule(
                R.SAFETY_CASE_APPROVED,
                check_safety_cases(policy, findings, st.model, st.scope, history),
            )
    return Judgement(
        report.verdict(record, policy.label if policy else None, evidence.invalidated_by),
        evidence.relies_on,
    )
