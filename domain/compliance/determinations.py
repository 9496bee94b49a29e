"""The rules on capability determinations: `model.registered` and `determination.*` (SPEC §5).

Each check reads only citations that passed `evidence.cited` (SPEC §5 "Bad citations") and the
indexes of `History`, and returns the reasons it fails (empty when it holds).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.ids import format_time
from domain.log import LogRecord
from domain.policy import PARTS, PolicyDocument
from domain.statements import CapabilityFinding, RequiredLevels, SafetyCaseApproved

from .history import History


def number(x: float) -> str:
    """A compute figure as an auditor reads it: `4.8e25`, `3e24`, `1000`."""
    return f"{x:.6g}".replace("e+", "e")


def past_window(start: datetime, window: timedelta | None, t: datetime) -> bool:
    """True when t is not before `start` + `window` (a window beyond the calendar never ends)."""
    if window is None:
        return False
    try:
        return t >= start + window
    except OverflowError:
        return False


def beyond_window(start: datetime, window: timedelta | None, t: datetime) -> bool:
    """True when t is later than `start` + `window` (a window beyond the calendar never ends)."""
    if window is None:
        return False
    try:
        return t > start + window
    except OverflowError:
        return False


def check_model_registered(model: str, history: History) -> list[str]:
    # SPEC §5 model.registered: the model was registered before J.
    if model in history.registered_models:
        return []
    return [f"model {model!r} is not registered before this statement"]


def check_latest(determination: str, model: str, history: History) -> list[str]:
    # SPEC §5 determination.latest: a decision may not rest on a superseded determination.
    latest = history.latest_determination.get(model)
    if latest == determination:
        return []
    return [
        f"cites determination {determination!r}, but the latest capability determination for "
        f"model {model!r} recorded before it is {latest!r}"
    ]


def check_coverage(policy: PolicyDocument, findings: Sequence[CapabilityFinding]) -> list[str]:
    # SPEC §5 determination.coverage: a cited finding for every threshold of P.
    covered = {f.threshold for f in findings}
    missing = [t for t in policy.threshold_ids if t not in covered]
    if not missing:
        return []
    have = [t for t in policy.threshold_ids if t in covered]
    return [
        f"no cited finding for threshold {', '.join(missing)} of {policy.label}; the cited "
        f"findings cover {', '.join(have) or 'none of its thresholds'}"
    ]


def check_comprehensive(policy: PolicyDocument, findings: Sequence[CapabilityFinding]) -> list[str]:
    # SPEC §5 determination.comprehensive: an early warning must be followed up by a
    # comprehensive assessment of the same threshold (the early-warning finding itself may be it).
    if not policy.assessment.early_warning_requires_comprehensive:
        return []
    comprehensive = {f.threshold for f in findings if f.assessment == "comprehensive"}
    problems: list[str] = []
    for threshold in policy.threshold_ids:
        warnings = [
            f.id for f in findings if f.threshold == threshold and f.outcome == "early_warning"
        ]
        if warnings and threshold not in comprehensive:
            problems.append(
                f"threshold {threshold} has an early-warning finding "
                f"({', '.join(repr(w) for w in warnings)}) but no cited comprehensive finding"
            )
    return problems


def check_fresh(
    policy: PolicyDocument,
    findings: Sequence[LogRecord],
    model: str,
    t: datetime,
    history: History,
) -> list[str]:
    """SPEC §5 determination.fresh, (a) by effective compute and (b) by age."""
    computes = [
        (r.statement.effective_compute, r.statement.id)
        for r in findings
        if isinstance(r.statement, CapabilityFinding)
    ]
    if not computes:
        return ["the determination cites no valid finding, so its freshness cannot be established"]
    problems: list[str] = []
    smallest, smallest_id = min(computes)
    multiple = policy.assessment.effective_compute_multiple
    greatest = history.greatest_compute.get(model)
    # (a) the model must not have grown to `multiple` × the least-trained model evaluated.
    if greatest is not None and greatest.effective_compute >= multiple * smallest:
        problems.append(
            f"effective compute {number(greatest.effective_compute)} recorded for model "
            f"{model!r} (by {greatest.statement!r}) is ≥ {number(multiple)} × "
            f"{number(smallest)} of the smallest cited finding ({smallest_id!r}); expected "
            f"< {number(multiple * smallest)}"
        )
    # (b) the oldest cited finding bounds the age of the whole determination.
    oldest = min(findings, key=lambda r: (r.recorded_at, r.seq))
    if past_window(oldest.recorded_at, policy.max_age, t):
        age = t - oldest.recorded_at
        problems.append(
            f"recorded {format_time(t)}, {_days(age)} after the oldest cited finding "
            f"{oldest.statement.id!r} ({format_time(oldest.recorded_at)}); expected less than "
            f"{number(policy.assessment.max_age_days)} days"
        )
    return problems


def _days(age: timedelta) -> str:
    days = age / timedelta(days=1)
    return f"{days:.6g} days"


def check_level(
    policy: PolicyDocument, required: RequiredLevels, findings: Sequence[CapabilityFinding]
) -> list[str]:
    """SPEC §5 determination.level: `required` is at least what the cited findings call for."""
    counted = {"crossed"}
    if policy.assessment.cannot_rule_out_counts_as_crossed:
        counted.add("cannot_rule_out")
    crossed: list[CapabilityFinding] = [
        f for f in findings if f.outcome in counted and f.threshold in policy.thresholds_by_id
    ]
    problems: list[str] = []
    for part in PARTS:
        got: str = getattr(required, part)
        # The call for a part: the highest `requires` over crossed thresholds, else the baseline.
        call, because = policy.baseline, None
        for f in crossed:
            level = policy.thresholds_by_id[f.threshold].requires.level(part)
            if level is not None and policy.at_least(level, call) and level != call:
                call, because = level, f
        if not policy.is_level(got):
            problems.append(
                f"required.{part} {got!r} is not a level of {policy.label} "
                f"(levels: {', '.join(policy.levels)})"
            )
        elif not policy.at_least(got, call) and because is not None:
            outcome = (
                "crossed"
                if because.outcome == "crossed"
                else f"{because.outcome}, which {policy.label} counts as crossed"
            )
            problems.append(
                f"required.{part} is {got}, expected at least {call}: threshold "
                f"{because.threshold} is {outcome} (finding {because.id!r})"
            )
    return problems


def check_safety_cases(
    policy: PolicyDocument,
    findings: Sequence[CapabilityFinding],
    model: str,
    scope: str,
    history: History,
) -> list[str]:
    """safety-case.approved (policy v2, docs/rules.md): for each threshold the cited findings
    count as crossed whose `safety_case_before` names the decision's scope, the latest safety case
    approval for the model and that threshold, recorded before the decision, covers the scope and
    is not noncompliant (FSF 3.0 §2.1.2 item 2: "external deployments ... take place only after
    the appropriate governance function determines the safety case ... to be adequate")."""
    counted = {"crossed"}
    if policy.assessment.cannot_rule_out_counts_as_crossed:
        counted.add("cannot_rule_out")
    problems: list[str] = []
    seen: set[str] = set()
    for f in findings:
        threshold = f.threshold
        if (
            f.outcome not in counted
            or threshold in seen
            or scope not in policy.safety_case_scopes(threshold)
        ):
            continue
        seen.add(threshold)
        why = f"threshold {threshold} is {f.outcome} (finding {f.id!r})"
        sid = history.safety_cases.get((model, threshold))
        if sid is None:
            problems.append(
                f"{why}, and {policy.label} deploys such a model to {scope!r} only with an "
                f"approved safety case: none for model {model!r} and {threshold} is recorded "
                f"before this decision"
            )
            continue
        case = history.records[sid].statement
        if isinstance(case, SafetyCaseApproved) and scope not in case.scopes:
            problems.append(
                f"{why}: the latest safety case for model {model!r} and {threshold}, {sid!r}, "
                f"approves scopes {', '.join(case.scopes)}, not {scope!r}"
            )
        verdict = history.verdicts.get(sid)
        if verdict is not None and verdict.verdict == "noncompliant":
            problems.append(
                f"{why}: the latest safety case for model {model!r} and {threshold}, {sid!r}, is "
                f"noncompliant (failed {', '.join(verdict.failed_rules)})"
            )
    return problems
