"""What a replay of the whole log gives the transaction that writes every table.

A rebuild replays the log in this process or in several (`projections.parallel`); either way it
hands the write the same things, in the same order: the log's index, the groups, the model and
organisation rows, then the safeguards and verdict rows one at a time (a million entries hold
too many to build all at once). The timeline is not here: the replay stages it in a temporary
table of the writing connection as it goes.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .relevance import IndexedEntry
from .rows import Rows


class IndexColumns:
    """The log's index (`schema.entries`) a column at a time, for entries 0 … n − 1 (the seqs
    are the positions): a million rows as one named tuple each would be a hundred MB more."""

    def __init__(self) -> None:
        self.recorded_us = array("q")
        self.statement_ids: list[str] = []
        self.types: list[str] = []
        self.homes: list[str] = []

    def add(self, entry: IndexedEntry) -> None:
        self.recorded_us.append(entry.recorded_us)
        self.statement_ids.append(entry.statement_id)
        self.types.append(entry.type)
        self.homes.append(entry.home)

    def chunk(self) -> tuple[bytes, list[str], list[str], list[str]]:
        """The columns, to send to another process."""
        return (self.recorded_us.tobytes(), self.statement_ids, self.types, self.homes)

    def __len__(self) -> int:
        return len(self.statement_ids)

    def values(self) -> Iterator[tuple[Any, ...]]:
        """Rows of `IndexedEntry._fields`, in seq order."""
        n = len(self.statement_ids)
        return zip(
            range(n), self.recorded_us, self.statement_ids, self.types, self.homes, strict=True
        )

    def clear(self) -> None:
        self.recorded_us = array("q")
        self.statement_ids, self.types, self.homes = [], [], []


@dataclass
class Replayed:
    """A whole replay, ready to write: `at` is the last entry's `recorded_at` (None: no entry)."""

    at: datetime | None
    index: IndexColumns | None  # None: staged in the writing connection's temporary table
    groups: list[dict[str, str]]
    rows: Rows
    safeguards: Iterable[tuple[Any, ...]]
    verdicts: Iterable[tuple[Any, ...]]
    # Ends whatever made the rows (worker processes), once they are written or not.
    close: Callable[[], None] = lambda: None
