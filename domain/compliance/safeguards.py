"""The rules on safeguards and on what a deployment needs around them (SPEC §5):
`safeguards.level`, `safeguards.controls`, `safeguards.current`, `deployment.scope` and
`governance.notified`.

A `SafeguardsBasis` is one safeguards determination with the attestations it validly cites; the
checks read nothing else (SPEC §5 "Bad citations"). Each returns the reasons it fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.ids import format_time
from domain.log import LogRecord
from domain.policy import PARTS, Part, PolicyDocument
from domain.statements import RequiredLevels, SafeguardAttestation, SafeguardsDetermination

from .determinations import beyond_window, number
from .history import History


@dataclass(frozen=True, slots=True)
class SafeguardsBasis:
    """A safeguards determination and the attestations it validly cites."""

    record: LogRecord
    determination: SafeguardsDetermination
    attestations: tuple[tuple[LogRecord, SafeguardAttestation], ...]

    @classmethod
    def of(cls, record: LogRecord, attestations: Sequence[LogRecord]) -> SafeguardsBasis:
        sd = record.statement
        if not isinstance(sd, SafeguardsDetermination):
            raise TypeError(f"expected a safeguards_determination, found {sd.type}")
        pairs = tuple(
            (r, r.statement) for r in attestations if isinstance(r.statement, SafeguardAttestation)
        )
        return cls(record, sd, pairs)

    def parts(self) -> list[Part]:
        claimed = {a.part for _, a in self.attestations}
        return [p for p in PARTS if p in claimed]


def check_controls(policy: PolicyDocument, basis: SafeguardsBasis) -> list[str]:
    """SPEC §5 safeguards.controls for one safeguards determination, under `policy`."""
    sd = basis.determination
    standard = sd.standard
    if not policy.is_level(standard):
        return [
            f"safeguards determination {sd.id!r} is for standard {standard!r}, which is not a "
            f"level of {policy.label}"
        ]
    problems: list[str] = []
    for part in basis.parts():
        # SPEC §4: a part that needs safeguards but names no controls is not yet specified, and
        # nothing satisfies it.
        if policy.needs_safeguards(standard) and not policy.is_specified(standard, part):
            problems.append(
                f"{sd.id!r}: the {standard} {part} standard is not yet specified in "
                f"{policy.label}, so nothing satisfies it"
            )
            continue
        needed = policy.controls(standard, part)
        covered: set[str] = set()
        for _, a in basis.attestations:
            if a.part == part:
                covered.update(a.controls)
        missing = [c for c in needed if c not in covered]
        if missing:
            problems.append(
                f"{sd.id!r}: its {part} attestations cover {len(needed) - len(missing)} of the "
                f"{len(needed)} {standard} {part} controls of {policy.label}; missing "
                f"{', '.join(missing)}"
            )
    return problems


def check_current(
    policy: PolicyDocument, bases: Sequence[SafeguardsBasis], t: datetime, history: History
) -> list[str]:
    """SPEC §5 safeguards.current: every determination and attestation relied on is unexpired at
    t, not withdrawn as known at t, and approved for no longer than `max_validity_days`."""
    problems: list[str] = []
    seen: set[str] = set()
    for basis in bases:
        items: list[tuple[LogRecord, datetime]] = [(basis.record, basis.determination.valid_until)]
        items.extend((r, a.valid_until) for r, a in basis.attestations)
        for record, valid_until in items:
            sid = record.statement.id
            if sid in seen:
                continue
            seen.add(sid)
            if not t < valid_until:
                problems.append(
                    f"{sid!r} has expired: valid until {format_time(valid_until)}, expected a "
                    f"time after this statement's recorded_at {format_time(t)}"
                )
            for w in history.withdrawals.get(sid, ()):
                if w.invalid_from <= t:
                    problems.append(
                        f"{sid!r} is withdrawn from {format_time(w.invalid_from)} by "
                        f"{w.statement!r}"
                    )
            if beyond_window(record.recorded_at, policy.max_validity, valid_until):
                days = (valid_until - record.recorded_at).total_seconds() / 86400
                problems.append(
                    f"{sid!r} is valid for {days:.6g} days from its recording "
                    f"({format_time(record.recorded_at)} to {format_time(valid_until)}); "
                    f"{policy.label} allows at most "
                    f"{number(policy.safeguards.max_validity_days)} days"
                )
    return problems


def check_safeguards_level(
    policy: PolicyDocument, required: RequiredLevels, bases: Sequence[SafeguardsBasis]
) -> list[str]:
    """SPEC §5 safeguards.level: for each part whose required level needs safeguards, some cited
    safeguards determination of a standard at least that level cites attestations for that part."""
    problems: list[str] = []
    for part in PARTS:
        level: str = getattr(required, part)
        if not policy.is_level(level):
            # SPEC §5 "Bad citations": an unknown level fails, and counts as above the baseline.
            problems.append(
                f"the determination requires {part} level {level!r}, which is not a level of "
                f"{policy.label}, so no safeguards can meet it"
            )
            continue
        if not policy.needs_safeguards(level):
            continue
        if any(
            policy.at_least(b.determination.standard, level) and part in b.parts() for b in bases
        ):
            continue
        offered = (
            ", ".join(
                f"{b.determination.id!r} ({b.determination.standard}: "
                f"{', '.join(b.parts()) or 'no valid attestations'})"
                for b in bases
            )
            or "none"
        )
        problems.append(
            f"{part} needs safeguards of {level} or above, with {part} attestations; "
            f"cited safeguards determinations: {offered}"
        )
    return problems


def check_scope(
    policy: PolicyDocument,
    scope: str,
    deployment_level: str | None,
    bases: Sequence[SafeguardsBasis],
) -> list[str]:
    """SPEC §5 deployment.scope. `deployment_level` is None when no determination was validly
    cited; then only the policy's scopes are checked (docs/rules.md)."""
    problems: list[str] = []
    if scope not in policy.scope_set:
        problems.append(
            f"scope {scope!r} is not one of the scopes of {policy.label} "
            f"({', '.join(policy.scopes) or 'none'})"
        )
    if deployment_level is None or not policy.needs_safeguards(deployment_level):
        return problems
    for basis in bases:
        for _, a in basis.attestations:
            if a.part == "deployment" and scope not in a.scopes:
                problems.append(
                    f"deployment attestation {a.id!r} (via {basis.determination.id!r}) covers "
                    f"scopes {', '.join(a.scopes) or 'none'}, not {scope!r}"
                )
    return problems


def check_notified(
    policy: PolicyDocument, required: RequiredLevels, determination: str, history: History
) -> list[str]:
    """SPEC §5 governance.notified: above the baseline, every body of `notify_before_deployment`
    was notified of the cited determination before the decision."""
    if not any(policy.above_baseline(getattr(required, part)) for part in PARTS):
        return []
    told = history.notified.get(determination, set())
    missing = [b for b in policy.notify_before_deployment if b not in told]
    if not missing:
        return []
    return [
        f"not notified of determination {determination!r} before this decision: "
        f"{', '.join(missing)} (notified before it: {', '.join(sorted(told)) or 'none'})"
    ]
