"""Verdicts of SPEC §5 and their JSON form of SPEC §8.

Invariants:
- a `Verdict` is immutable; a later invalidation produces a new `Verdict` for the same seq;
- `failed` is empty exactly when the verdict is `compliant` or `invalidated`, and is ordered as
  SPEC §5's table (`rules.RULE_IDS`), one entry per rule;
- `invalidated_by` is non-empty exactly when the verdict is `invalidated`;
- `to_json()` is exactly SPEC §8's verdict object; `checked` (the rules that were evaluated) is a
  convenience for reports and tests and is not part of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

VerdictKind = Literal["compliant", "noncompliant", "invalidated", "indeterminate"]
VERDICT_KINDS: tuple[VerdictKind, ...] = (
    "compliant",
    "noncompliant",
    "invalidated",
    "indeterminate",
)


@dataclass(frozen=True, slots=True)
class FailedRule:
    """A rule of SPEC §5 that a statement fails, with the reason in an auditor's words."""

    rule: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one statement (SPEC §5), as SPEC §8 reports it."""

    seq: int
    statement: str
    type: str
    model: str | None
    policy: str | None
    verdict: VerdictKind
    failed: tuple[FailedRule, ...] = ()
    invalidated_by: tuple[str, ...] = ()
    # The rules evaluated for this statement, in SPEC order (not part of SPEC §8's object).
    checked: tuple[str, ...] = ()

    @property
    def failed_rules(self) -> tuple[str, ...]:
        return tuple(f.rule for f in self.failed)

    @property
    def is_compliant(self) -> bool:
        return self.verdict == "compliant"

    def to_json(self) -> dict[str, Any]:
        """SPEC §8's verdict object, key for key."""
        return {
            "seq": self.seq,
            "statement": self.statement,
            "type": self.type,
            "model": self.model,
            "policy": self.policy,
            "verdict": self.verdict,
            "failed": [f.to_json() for f in self.failed],
            "invalidated_by": list(self.invalidated_by),
        }


def summary(verdicts: Iterable[Verdict], entries: int) -> dict[str, int]:
    """SPEC §8's summary object: the number of entries, and of verdicts of each kind."""
    counts: dict[str, int] = {"entries": entries}
    counts.update({kind: 0 for kind in VERDICT_KINDS})
    for v in verdicts:
        counts[v.verdict] += 1
    return counts
