"""The compliance engine of SPEC §5: pure, one pass, indexed.

Public API:
- `ComplianceEngine` — `add(record)`, `preview(record)`, `verdicts()`, `policy_in_force(seq, at)`;
- `judge(records)` — every verdict of a whole log;
- `Verdict`, `FailedRule`, `summary(verdicts, entries)` — SPEC §8's verdict and summary objects;
- `RULE_IDS` — the rule ids of SPEC §5, in the order of its table.
"""

from __future__ import annotations

from .engine import ComplianceEngine, RecordOrderError, judge
from .rules import RULE_IDS
from .verdicts import VERDICT_KINDS, FailedRule, Verdict, VerdictKind, summary

__all__ = [
    "RULE_IDS",
    "VERDICT_KINDS",
    "ComplianceEngine",
    "FailedRule",
    "RecordOrderError",
    "Verdict",
    "VerdictKind",
    "judge",
    "summary",
]
