"""What the domain knows of a log entry: its position, its time, its typed statement and who
signed it. Built by verify/ (from exact bytes) or the ledger (from its store); the compliance
engine and the projections read only this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.statements import Statement


@dataclass(frozen=True, slots=True)
class LogRecord:
    seq: int
    recorded_at: datetime
    statement: Statement
    # Key ids of the envelope's signatures, all verified by the time a record exists.
    signer_key_ids: tuple[str, ...]

    @property
    def statement_id(self) -> str:
        return self.statement.id
