"""The rule ids of SPEC §5, exactly as verdicts report them, in the order of SPEC's table, then
the rule ids of policy v2 (docs/rules.md "Policy v2").

Verdicts list their failed rules in the order of `ALL_RULE_IDS`, so that two verifiers print the
same report. `RULE_IDS` stays exactly SPEC §5's table: the v1 contract.
"""

from __future__ import annotations

POLICY_IN_FORCE = "policy.in-force"
SIGNERS_APPROVED = "signers.approved"
EVIDENCE_CITED = "evidence.cited"
EVIDENCE_COMPLIANT = "evidence.compliant"
MODEL_REGISTERED = "model.registered"
DETERMINATION_LATEST = "determination.latest"
DETERMINATION_COVERAGE = "determination.coverage"
DETERMINATION_COMPREHENSIVE = "determination.comprehensive"
DETERMINATION_FRESH = "determination.fresh"
DETERMINATION_LEVEL = "determination.level"
SAFEGUARDS_LEVEL = "safeguards.level"
SAFEGUARDS_CONTROLS = "safeguards.controls"
SAFEGUARDS_CURRENT = "safeguards.current"
DEPLOYMENT_SCOPE = "deployment.scope"
GOVERNANCE_NOTIFIED = "governance.notified"
AMENDMENT_EFFECTIVE = "amendment.effective"
AMENDMENT_VALID = "amendment.valid"

RULE_IDS: tuple[str, ...] = (
    POLICY_IN_FORCE,
    SIGNERS_APPROVED,
    EVIDENCE_CITED,
    EVIDENCE_COMPLIANT,
    MODEL_REGISTERED,
    DETERMINATION_LATEST,
    DETERMINATION_COVERAGE,
    DETERMINATION_COMPREHENSIVE,
    DETERMINATION_FRESH,
    DETERMINATION_LEVEL,
    SAFEGUARDS_LEVEL,
    SAFEGUARDS_CONTROLS,
    SAFEGUARDS_CURRENT,
    DEPLOYMENT_SCOPE,
    GOVERNANCE_NOTIFIED,
    AMENDMENT_EFFECTIVE,
    AMENDMENT_VALID,
)

# Policy v2 (docs/rules.md): only a v2 document can make these apply.
SAFETY_CASE_APPROVED = "safety-case.approved"
DUTY_PERIODIC = "duty.periodic"
DUTY_TRIGGERED = "duty.triggered"
DUTY_REVIEW_WINDOW = "duty.review-window"

V2_RULE_IDS: tuple[str, ...] = (
    SAFETY_CASE_APPROVED,
    DUTY_PERIODIC,
    DUTY_TRIGGERED,
    DUTY_REVIEW_WINDOW,
)
DUTY_RULE_IDS: frozenset[str] = frozenset({DUTY_PERIODIC, DUTY_TRIGGERED, DUTY_REVIEW_WINDOW})

ALL_RULE_IDS: tuple[str, ...] = (*RULE_IDS, *V2_RULE_IDS)

RULE_ORDER: dict[str, int] = {rule: i for i, rule in enumerate(ALL_RULE_IDS)}
