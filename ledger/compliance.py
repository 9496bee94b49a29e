"""The compliance engine (domain/compliance) over the ledger's own log.

The ledger never refuses a statement because it breaks the policy (SPEC §2); it records it and
warns the submitter. These helpers replay the log through the one engine the verifier uses, so a
warning here is exactly the verdict an auditor's verifier will report.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from domain.compliance import ComplianceEngine, Verdict, summary
from domain.compliance.kept import DEFAULT_WINDOW
from domain.log import LogRecord
from ledger.access import LedgerAccess
from ledger.store import Ledger, RecordedEntry
from verify.dsse import Envelope


def replay(
    ledger: LedgerAccess, stop: int | None = None, *, whole_records: int = DEFAULT_WINDOW
) -> ComplianceEngine:
    """An engine that has consumed entries [0, stop) of the ledger, keeping the latest
    `whole_records` of them whole (domain/compliance/kept.py)."""
    engine = ComplianceEngine(whole_records=whole_records)
    for entry in ledger.entries(0, stop):
        engine.add(entry.record())
    return engine


def preview(
    ledger: LedgerAccess, envelope: Envelope, recorded_at: datetime | None
) -> Verdict | None:
    """The verdict the envelope's statement would get if it were recorded next (a dry run)."""
    engine = replay(ledger)
    size = ledger.size()
    when = recorded_at or datetime.now(UTC)
    return engine.preview(LogRecord(size, when, envelope.statement, envelope.key_ids))


class JudgedAsRecorded:
    """`submit --check`: the verdicts of a batch's new entries (SPEC §2: the ledger records,
    and warns).

    With `during=True` the log so far is replayed when this is made, before the write
    transaction, so the write lock is not held for it; `judge`, passed to
    `Ledger.submit_batch` as `on_appended`, then judges the batch's new entries inside the
    transaction while the signature checks run (a large import). Otherwise the entries are
    judged by `verdicts`, after the commit, so that a refused submission costs no replay.
    """

    def __init__(self, ledger: Ledger, envelopes: Sequence[Envelope], *, during: bool) -> None:
        self._ledger = ledger
        self._envelopes = {e.statement.id: e for e in envelopes}
        # The batch's own records stay whole: their statements are held by the caller anyway,
        # and compacting each one would cost about as much as judging it.
        self._whole = DEFAULT_WINDOW + len(envelopes)
        self._engine = replay(ledger, whole_records=self._whole) if during else None
        self._judged: list[Verdict] | None = None

    def judge(self, recorded: Iterable[RecordedEntry]) -> None:
        fresh = sorted((r for r in recorded if not r.existing), key=lambda r: r.seq)
        if not fresh:
            self._judged = []
            return
        if self._engine is None or self._judged is not None:
            # Not replayed yet, or a retried transaction (the engine saw the failed attempt).
            self._engine = replay(self._ledger, fresh[0].seq, whole_records=self._whole)
        engine = self._engine
        out: list[Verdict] = []
        for r in fresh:
            if r.seq > engine.entries:  # another writer's entries in between: replay them too
                for entry in self._ledger.entries(engine.entries, r.seq):
                    engine.add(entry.record())
            env = self._envelopes[r.statement_id]
            verdict = engine.add(LogRecord(r.seq, r.recorded_at, env.statement, env.key_ids))
            if verdict is not None:
                out.append(verdict)
        self._judged = out

    def verdicts(self, recorded: Iterable[RecordedEntry]) -> list[Verdict]:
        """The verdicts of the judged statements among `recorded`, once they are committed."""
        if self._judged is None:
            self.judge(recorded)
        assert self._judged is not None
        return self._judged


def report(ledger: LedgerAccess) -> dict[str, Any]:
    """Every verdict of the local ledger, in the shape of SPEC §8's report."""
    engine = replay(ledger)
    verdicts = engine.verdicts()
    size = engine.entries
    return {
        "format": "rsp-ledger.verify-report/v1",
        "bundle": {
            "origin": ledger.origin,
            "tree_size": size,
            "root": base64.b64encode(ledger.signed_root(size)).decode() if size else None,
            "redacted": False,
            "time_source": ledger.time_source,
        },
        "integrity": {"ok": True, "problems": []},
        "verdicts": [v.to_json() for v in verdicts],
        "summary": summary(verdicts, size),
    }
