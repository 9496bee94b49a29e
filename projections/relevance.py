"""Which part of the log a model's state depends on, so that a projection can catch up, and answer
`status --as-of`, by replaying that part only.

Each entry has a home (`domain.state.home_of`): its model, else the home of the statement it is
about, else `ORG`. A statement's verdict and facts read (SPEC §5) the registry and the policies
(home `ORG`), the statements it cites and what those cite, withdrawals and notifications of
those (whose home is theirs), and the model's own entries (compute, latest determination).
So homes that cite each other's statements are joined into one **group** (union-find), and:

    R(keys) = entries whose home is in the groups of `keys` or in the group of ORG,
              plus every `model_registered` (lineage)

is closed under "depends on": replaying R(keys) through the same engine gives every statement
whose home is in `keys` exactly the verdict, facts and timeline of a replay of the whole log. A
group only ever grows, so a group read today is a superset of the group at any earlier seq, and
R(keys) of today restricted to seq ≤ n is still closed for the log's first n + 1 entries.

A new entry changes the rows of its own home, and:
- a `model_registered`: its parent's timeline and the organisation's registrations (ORG);
- a withdrawal: everything that relies on its target, which cites it and so is in its group
  (ORG-wide targets may be cited from anywhere: every home);
- a key compromise: anything its key signed (every home).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from sys import intern
from typing import NamedTuple

from domain.log import LogRecord
from domain.state import ORG, home_of
from domain.statements import (
    AttestationWithdrawn,
    KeyRevoked,
    ModelRegistered,
    cited_ids,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_us(t: datetime) -> int:
    """Microseconds since the epoch: times compared as instants, in SQL (SPEC §1)."""
    return (t - EPOCH) // _MICRO


_recorded_us = functools.lru_cache(maxsize=4096)(to_us)


def from_us(us: int) -> datetime:
    return EPOCH + us * _MICRO


class Groups:
    """Union-find over homes; the representative of a group is its least home (ORG if in it)."""

    def __init__(self, rows: Iterable[tuple[str, str]] = ()) -> None:
        self._rep: dict[str, str] = dict(rows)
        self.changed: set[str] = set()

    def find(self, home: str) -> str:
        return self._rep.get(home, home)

    def members(self, home: str) -> set[str]:
        rep = self.find(home)
        return {h for h, r in self._rep.items() if r == rep} | {home}

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        keep, drop = min(ra, rb), max(ra, rb)
        moved = self.members(drop) | {drop}
        if keep not in self._rep:
            self._rep[keep] = keep
            self.changed.add(keep)
        for h in moved:
            self._rep[h] = keep
            self.changed.add(h)

    def rows(self, homes: Iterable[str]) -> list[dict[str, str]]:
        return [{"home": h, "grp": self._rep[h]} for h in sorted(homes) if h in self._rep]


class IndexedEntry(NamedTuple):
    """One row of the log's index (`schema.entries`), its fields in the table's column order.

    (A named tuple: a rebuild holds one per entry, and inserts them as they are.)"""

    seq: int
    recorded_us: int
    statement_id: str
    type: str
    home: str

    def row(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "recorded_us": self.recorded_us,
            "statement_id": self.statement_id,
            "type": self.type,
            "home": self.home,
        }


def index_entry(record: LogRecord, homes: dict[str, str], groups: Groups) -> IndexedEntry:
    """Index one record: its home, and the groups its citations join. `homes` holds the homes of
    (at least) every statement it cites that was recorded before it; the record's own home is
    added to it."""
    st = record.statement
    home = home_of(st, homes)
    for cited in cited_ids(st):
        cited_home = homes.get(cited)
        if cited_home is not None and cited != st.id and cited_home not in (home, ORG):
            groups.union(home, cited_home)
    homes.setdefault(st.id, home)
    # The type and home strings, and the time of a batch, are shared by the rows that hold them.
    return IndexedEntry(
        record.seq, _recorded_us(record.recorded_at), st.id, intern(st.type), intern(home)
    )


def affected_homes(
    new: Iterable[tuple[LogRecord, IndexedEntry]], groups: Groups
) -> set[str] | None:
    """The homes whose rows the new entries change; None means every home."""
    out: set[str] = set()
    for record, entry in new:
        st = record.statement
        out.add(entry.home)
        match st:
            case ModelRegistered():
                out.add(ORG)
                if st.parent is not None:
                    out.add(st.parent)
            case AttestationWithdrawn():
                group = groups.members(entry.home)
                if ORG in group:
                    return None
                out |= group
            case KeyRevoked() if st.compromised_since is not None:
                return None
            case _:
                pass
    return out


def replay_homes(keys: Iterable[str], groups: Groups) -> set[str]:
    """The homes whose entries a replay for `keys` reads (with every `model_registered`)."""
    out = groups.members(ORG)
    for k in keys:
        out |= groups.members(k)
    return out


def cited_targets(records: Iterable[LogRecord]) -> set[str]:
    """Every statement id the records cite (to look up their homes before indexing)."""
    return {c for r in records for c in cited_ids(r.statement)}
