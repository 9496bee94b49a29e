"""The compliance engine (domain/compliance) over the ledger's own log.

The ledger never refuses a statement because it breaks the policy (SPEC §2); it records it and
warns the submitter. These helpers replay the log through the one engine the verifier uses, so a
warning here is exactly the verdict an auditor's verifier will report.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from domain.compliance import ComplianceEngine, Verdict, summary
from domain.log import LogRecord
from ledger.access import LedgerAccess
from ledger.client import RemoteLedger
from ledger.store import RecordedEntry
from verify.dsse import Envelope


def replay(ledger: LedgerAccess, stop: int | None = None) -> ComplianceEngine:
    """An engine that has consumed entries [0, stop) of the ledger."""
    engine = ComplianceEngine()
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


def verdicts_of_new(
    ledger: LedgerAccess, recorded: Iterable[RecordedEntry], envelopes: dict[str, Envelope]
) -> list[Verdict]:
    """The verdicts of just-recorded entries that are judged (for `submit`'s warning)."""
    if isinstance(ledger, RemoteLedger):  # the service judged them as it recorded them
        return ledger.verdicts_of_new(recorded)
    fresh = sorted((r for r in recorded if not r.existing), key=lambda r: r.seq)
    if not fresh:
        return []
    engine = replay(ledger, fresh[0].seq)
    out: list[Verdict] = []
    expected = fresh[0].seq
    for r in fresh:
        if r.seq != expected:  # another writer's entries in between: replay them too
            for entry in ledger.entries(expected, r.seq):
                engine.add(entry.record())
        env = envelopes[r.statement_id]
        verdict = engine.add(LogRecord(r.seq, r.recorded_at, env.statement, env.key_ids))
        if verdict is not None:
            out.append(verdict)
        expected = r.seq + 1
    return out


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
