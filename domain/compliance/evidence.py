"""What a statement cites and relies on: the rules `evidence.cited` and `evidence.compliant`.

SPEC §5 "Bad citations": the other rules read only citations that pass `evidence.cited`'s checks
of existence, order, type and model; `Citations.valid` is exactly those. SPEC §5 "Void evidence":
the statements J relies on are J itself, every statement it cites, and the findings and
attestations cited by the determinations it cites; `relied_upon` returns exactly those.

Invariants:
- everything here reads a `History` of the entries recorded before J, so "exists" and "was
  recorded before J" are one check: an id that is not in the history fails both;
- a statement is void as known at t only through entries already in the history; the engine
  applies voiding entries recorded after J separately (invalidation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.ids import format_time
from domain.log import LogRecord
from domain.registry import WITHDRAWABLE_TYPES
from domain.statements import (
    CapabilityDetermination,
    DeploymentDecision,
    SafeguardAttestation,
    SafeguardsDetermination,
    Statement,
)

from .history import History


@dataclass(frozen=True, slots=True)
class Citations:
    """The statements J cites, sorted by what the rules may read."""

    # cited statements that pass existence, order, type and model (SPEC §5 "Bad citations")
    valid: tuple[LogRecord, ...]
    # cited statements that exist and were recorded before J, whatever their type
    resolved: tuple[LogRecord, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Voiding:
    """A statement J relies on is void (SPEC §5), and the entry that voids it."""

    statement: str
    by: str
    by_seq: int
    reason: str


_Expectation = Callable[[Statement], str | None]


def _same_model(kind: str, model: str | None, *, org_wide_ok: bool) -> _Expectation:
    def check(cited: Statement) -> str | None:
        cited_model = getattr(cited, "model", None)
        if cited_model == model or (org_wide_ok and cited_model is None):
            return None
        found = "organisation-wide" if cited_model is None else f"model {cited_model!r}"
        wanted = "organisation-wide" if model is None else f"model {model!r}"
        also = " (or organisation-wide)" if org_wide_ok and model is not None else ""
        return f"cites {kind} {cited.id!r} for {found}, expected {wanted}{also}"

    return check


def _of_type(kind: str, then: _Expectation) -> _Expectation:
    def check(cited: Statement) -> str | None:
        if cited.type != kind:
            return f"cites {cited.id!r} as a {kind}, but it is a {cited.type}"
        return then(cited)

    return check


def _attestation_for(sd: SafeguardsDetermination) -> _Expectation:
    same_model = _same_model("safeguard_attestation", sd.model, org_wide_ok=True)

    def check(cited: Statement) -> str | None:
        # SPEC §5 evidence.cited: a safeguards determination cites attestations of its standard.
        if isinstance(cited, SafeguardAttestation) and cited.standard != sd.standard:
            return (
                f"cites attestation {cited.id!r} of standard {cited.standard}, "
                f"expected {sd.standard} (the determination's standard)"
            )
        return same_model(cited)

    return _of_type("safeguard_attestation", check)


def _expected(statement: Statement) -> list[tuple[str, _Expectation]]:
    match statement:
        case CapabilityDetermination():
            finding = _of_type(
                "capability_finding",
                _same_model("capability_finding", statement.model, org_wide_ok=False),
            )
            return [(f, finding) for f in statement.findings]
        case SafeguardsDetermination():
            attestation = _attestation_for(statement)
            return [(a, attestation) for a in statement.attestations]
        case DeploymentDecision():
            determination = _of_type(
                "capability_determination",
                _same_model("capability_determination", statement.model, org_wide_ok=False),
            )
            safeguards = _of_type(
                "safeguards_determination",
                _same_model("safeguards_determination", statement.model, org_wide_ok=True),
            )
            return [
                (statement.determination, determination),
                *((s, safeguards) for s in statement.safeguards),
            ]
        case _:
            return []


def resolve_citations(record: LogRecord, history: History) -> Citations:
    """Sort J's citations into those the rules may read, and the reasons the others fail."""
    valid: dict[str, LogRecord] = {}
    resolved: dict[str, LogRecord] = {}
    problems: list[str] = []
    for cited_id, expectation in _expected(record.statement):
        cited = history.get(cited_id)
        if cited is None:
            # SPEC §5 evidence.cited: exists and was recorded before J (a smaller seq).
            problems.append(f"cites {cited_id!r}, which is not recorded before it")
            continue
        resolved[cited_id] = cited
        problem = expectation(cited.statement)
        if problem is None:
            valid.setdefault(cited_id, cited)
        else:
            problems.append(problem)
    return Citations(tuple(valid.values()), tuple(resolved.values()), tuple(problems))


def relied_upon(record: LogRecord, citations: Citations, history: History) -> tuple[LogRecord, ...]:
    """SPEC §5: J, what it cites, and what the determinations it cites cite."""
    relied: dict[str, LogRecord] = {record.statement.id: record}
    for cited in citations.resolved:
        relied.setdefault(cited.statement.id, cited)
        for sub_id in history.valid_citations.get(cited.statement.id, ()):
            relied.setdefault(sub_id, history.records[sub_id])
    return tuple(relied.values())


def voidings_known(relied: Iterable[LogRecord], t: datetime, history: History) -> list[Voiding]:
    """Which of the statements relied on are void through entries already recorded (at t)."""
    found: list[Voiding] = []
    for s in relied:
        sid = s.statement.id
        for key_id in s.signer_key_ids:
            c = history.compromised.get(key_id)
            if c is not None and c.compromised_since <= s.recorded_at:
                found.append(
                    Voiding(
                        sid,
                        c.statement,
                        c.seq,
                        f"relies on {sid!r}, which is void: signed with key {key_id[:16]}…, "
                        f"reported compromised since {format_time(c.compromised_since)} by "
                        f"{c.statement!r}, on or before {sid!r} was recorded at "
                        f"{format_time(s.recorded_at)}",
                    )
                )
        if s.statement.type in WITHDRAWABLE_TYPES:
            for w in history.withdrawals.get(sid, ()):
                if w.invalid_from <= t:
                    found.append(
                        Voiding(
                            sid,
                            w.statement,
                            w.seq,
                            f"relies on {sid!r}, which is void: withdrawn by {w.statement!r} "
                            f"from {format_time(w.invalid_from)}, on or before this statement's "
                            f"recorded_at {format_time(t)}",
                        )
                    )
    return found


@dataclass(frozen=True, slots=True)
class CitedVerdicts:
    """SPEC §5 evidence.compliant: what the verdicts of the cited statements say."""

    problems: tuple[str, ...]
    invalidated_by: tuple[str, ...]


def check_evidence_compliant(valid: Sequence[LogRecord], history: History) -> CitedVerdicts:
    problems: list[str] = []
    invalidated_by: dict[str, None] = {}
    for cited in valid:
        verdict = history.verdicts.get(cited.statement.id)
        if verdict is None or verdict.verdict == "compliant":
            continue
        if verdict.verdict == "invalidated":
            # SPEC §5: a cited statement that is invalidated makes J invalidated.
            invalidated_by.update(dict.fromkeys(verdict.invalidated_by))
            continue
        rules = ", ".join(verdict.failed_rules) or "no rule"
        problems.append(
            f"cites {cited.statement.id!r}, whose verdict is {verdict.verdict} (failed {rules}), "
            f"expected compliant"
        )
    return CitedVerdicts(tuple(problems), tuple(invalidated_by))


def cited_by_determination(determination_id: str, history: History) -> list[LogRecord]:
    """The findings or attestations a determination validly cited (SPEC §5 "Bad citations")."""
    return [history.records[sid] for sid in history.valid_citations.get(determination_id, ())]
