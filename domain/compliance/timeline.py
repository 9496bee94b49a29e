"""Which policy is in force for an entry (SPEC §4 "The policy in force").

Invariants:
- only amendments that came into force are held (those that failed neither `signers.approved`
  nor `amendment.valid`); one that is later `invalidated` stays (SPEC §4);
- each is held at its effective time, max(`effective_at`, `recorded_at`): an amendment never acts
  on the past, so a retroactive one takes effect from its recording;
- the winner for (seq n, time t) is the greatest effective time ≤ t among those recorded before n,
  a tie going to the greater seq. Held sorted by (effective time, seq), a lookup is a bisection.
"""

from __future__ import annotations

import bisect
import sys
from dataclasses import dataclass
from datetime import datetime

from domain.policy import PolicyDocument


@dataclass(frozen=True, slots=True)
class InForce:
    """A policy in force, and the `policy_adopted` statement that brought it."""

    policy: PolicyDocument
    statement: str
    seq: int
    effective: datetime


class PolicyTimeline:
    """The amendments that came into force, ordered by effective time then seq."""

    __slots__ = ("_adopted", "_keys")

    def __init__(self) -> None:
        self._keys: list[tuple[datetime, int]] = []
        self._adopted: list[InForce] = []

    def __len__(self) -> int:
        return len(self._adopted)

    def adopt(
        self,
        policy: PolicyDocument,
        statement: str,
        *,
        seq: int,
        recorded_at: datetime,
        effective_at: datetime,
    ) -> InForce:
        # SPEC §4: effective time = max(effective_at, recorded_at).
        effective = max(effective_at, recorded_at)
        entry = InForce(policy, statement, seq, effective)
        key = (effective, seq)
        at = bisect.bisect_right(self._keys, key)
        self._keys.insert(at, key)
        self._adopted.insert(at, entry)
        return entry

    def in_force(self, seq: int, at: datetime) -> InForce | None:
        """The policy in force for the entry at `seq`, recorded at `at` (SPEC §4)."""
        # Everything with effective time ≤ at lies left of this point; walk back to the first
        # one recorded before `seq` (in one pass over the log, that is the first one tried).
        i = bisect.bisect_right(self._keys, (at, sys.maxsize))
        while i > 0:
            i -= 1
            candidate = self._adopted[i]
            if candidate.seq < seq:
                return candidate
        return None
