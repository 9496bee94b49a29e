"""The compliance engine of SPEC §5: pure, one pass, indexed.

Public API:
- `ComplianceEngine` — `add(record)`, `preview(record)`, `verdicts(as_of=None)`,
  `verdict_of(id, as_of=None)`, `overdue(as_of=None)`, `policy_in_force(seq, at)`;
- `judge(records)` — every verdict of a whole log (duties missed by its last entry included);
- `Verdict`, `FailedRule`, `summary(verdicts, entries)` — SPEC §8's verdict and summary objects;
- `RULE_IDS` — the rule ids of SPEC §5, in the order of its table; `V2_RULE_IDS` those of policy
  v2 (docs/rules.md); `ALL_RULE_IDS` both, in the order verdicts list failed rules;
- `MissedDuty`, `OpenDuty` — a duty over time missed by a given time, and one owed.
"""

from __future__ import annotations

from .duties import MissedDuty, OpenDuty
from .engine import ComplianceEngine, RecordOrderError, judge
from .rules import ALL_RULE_IDS, DUTY_RULE_IDS, RULE_IDS, V2_RULE_IDS
from .verdicts import VERDICT_KINDS, FailedRule, Verdict, VerdictKind, summary

__all__ = [
    "ALL_RULE_IDS",
    "DUTY_RULE_IDS",
    "RULE_IDS",
    "V2_RULE_IDS",
    "VERDICT_KINDS",
    "ComplianceEngine",
    "FailedRule",
    "MissedDuty",
    "OpenDuty",
    "RecordOrderError",
    "Verdict",
    "VerdictKind",
    "judge",
    "summary",
]
