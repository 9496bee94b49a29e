"""`LedgerAccess`: what the commands use of a ledger, whether it is a database (`Ledger`,
ledger/store.py) or a service (`RemoteLedger`, ledger/client.py). Code written against this
protocol works unchanged with `--ledger sqlite:///…`, `postgresql+psycopg://…` and `http(s)://…`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from ledger.store import RecordedEntry, Submission
from verify.details import Detail
from verify.dsse import Envelope
from verify.entry import Entry


class LedgerAccess(Protocol):
    def close(self) -> None: ...

    def __enter__(self) -> LedgerAccess: ...

    def __exit__(self, *exc: object) -> None: ...

    @property
    def display_url(self) -> str: ...

    @property
    def vkey(self) -> str: ...

    @property
    def origin(self) -> str: ...

    @property
    def time_source(self) -> str: ...

    # -- writing ----------------------------------------------------------------------------
    def submit(
        self,
        envelope: Envelope,
        *,
        detail: Detail | None = None,
        recorded_at: datetime | None = None,
    ) -> RecordedEntry: ...

    def submit_batch(
        self,
        submissions: Sequence[Submission],
        *,
        recorded_at: datetime | None = None,
        workers: int | None = None,
    ) -> list[RecordedEntry]: ...

    # -- reading ----------------------------------------------------------------------------
    def size(self) -> int: ...

    def entry(self, seq: int) -> Entry: ...

    def raw_entries(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]: ...

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]: ...

    def statement_entry(self, statement_id: str) -> Entry: ...

    def detail(self, statement_id: str) -> Detail | None: ...

    # -- checkpoints and proofs -------------------------------------------------------------
    def checkpoint(self, size: int | None = None) -> str: ...

    def signed_root(self, size: int) -> bytes: ...

    def inclusion_proof(self, seq: int, size: int | None = None) -> tuple[list[bytes], str]: ...

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]: ...
