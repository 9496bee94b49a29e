"""The service's group commit (ledger/_group_commit.py): submits that arrive together share one
transaction, yet each gets exactly the answer it would get alone.

The first transaction is held open until every submitter has queued, so the rest are certainly
recorded as one group; the recorder counts the groups it was given.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger._group_commit import GroupCommitter
from ledger.errors import EnvelopeRefusedError, StatementConflictError
from ledger.history import HistoryWriter
from ledger.store import Ledger, RecordedEntry, Submission
from tests.ledgers import open_new_ledger
from verify.dsse import Envelope, envelope_for_statement, parse_envelope
from verify.keys import Ed25519Signer


class HeldLedger:
    """A ledger whose first batch waits for `release`; it records the size of every batch."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.release = threading.Event()
        self.batches: list[int] = []

    def submit_batch(self, subs: list[Submission], **kwargs: Any) -> list[RecordedEntry]:
        self.batches.append(len(subs))
        if len(self.batches) == 1:
            assert self.release.wait(30)
        return self.ledger.submit_batch(subs, **kwargs)

    def submit(self, envelope: Envelope, **kwargs: Any) -> RecordedEntry:
        return self.ledger.submit(envelope, **kwargs)

    def size(self) -> int:
        return self.ledger.size()


@pytest.fixture
def writer(tmp_path: Path) -> HistoryWriter:
    return open_new_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", asserted=False).writer


def report(h: HistoryWriter, sid: str, summary: str = "late") -> Envelope:
    h.clock = datetime.now(UTC)
    st = h.statement("noncompliance_reported", "dario", id=sid, regarding=None, summary=summary)
    return h.envelope(st, ["dario"])


def run_together(
    held: HeldLedger, committer: GroupCommitter, envelopes: list[Envelope]
) -> list[Any]:
    """Submit `envelopes` from as many threads; the first one's transaction is held until every
    other one has queued. Returns each answer or the exception it raised."""

    def one(env: Envelope) -> Any:
        try:
            return committer.submit(Submission(env))
        except Exception as e:
            return e

    with ThreadPoolExecutor(max_workers=len(envelopes)) as pool:
        first = pool.submit(one, envelopes[0])
        while not held.batches:  # the committer has taken the first one and is holding it
            threading.Event().wait(0.01)
        rest = [pool.submit(one, env) for env in envelopes[1:]]
        while len(committer._queue) < len(envelopes) - 1:
            threading.Event().wait(0.01)
        held.release.set()
        return [first.result(60)] + [f.result(60) for f in rest]


def test_a_refused_submit_does_not_sink_its_group(writer: HistoryWriter) -> None:
    ledger = writer.ledger
    held = HeldLedger(ledger)
    committer = GroupCommitter(held)  # type: ignore[arg-type]
    try:
        start = ledger.size()
        stranger = Ed25519Signer.generate()
        forged = parse_envelope(
            envelope_for_statement(
                writer.statement("noncompliance_reported", "dario", regarding=None, summary="f"),
                stranger,
            )
        )
        not_admin = writer.envelope(
            writer.statement("roles_set", "dario", principal="dario", roles=["ledger-admin"]),
            ["dario"],
        )
        good = [report(writer, f"good-{i}") for i in range(8)]
        envelopes = [good[0], *good[1:4], forged, *good[4:6], not_admin, *good[6:]]
        answers = run_together(held, committer, envelopes)
    finally:
        committer.close()

    assert held.batches[0] == 1 and max(held.batches[1:]) > 1  # the rest went as a group
    recorded = [a for a in answers if not isinstance(a, Exception)]
    refused = [a for a in answers if isinstance(a, Exception)]
    assert len(recorded) == 8 and len(refused) == 2
    assert all(isinstance(e, EnvelopeRefusedError) for e in refused)
    # Each refusal is the one it would get alone, not a batch's "line N: …".
    assert not any(str(e).startswith("line ") for e in refused)
    assert "signature" in str(refused[0]) and "ledger-admin" in str(refused[1])
    seqs = sorted(entry.seq for entry, _ in recorded)
    assert seqs == list(range(start, start + 8))
    assert ledger.size() == start + 8
    for entry, size in recorded:  # each answer names a committed tree that holds its entry
        assert entry.seq < size <= ledger.size()
        assert ledger.inclusion_proof(entry.seq, size)[0] is not None
    assert {e.envelope.statement.id for e in ledger.entries(start)} == {
        f"good-{i}" for i in range(8)
    }


def test_one_statement_id_twice_in_a_group(writer: HistoryWriter) -> None:
    ledger = writer.ledger
    held = HeldLedger(ledger)
    committer = GroupCommitter(held)  # type: ignore[arg-type]
    try:
        start = ledger.size()
        same = report(writer, "twice")
        other = report(writer, "twice", summary="another account")
        answers = run_together(
            held, committer, [report(writer, "first"), same, same, other, report(writer, "last")]
        )
    finally:
        committer.close()
    first, a, b, conflict, last = answers
    # The same envelope twice: one entry, both told it; another envelope with the id: refused.
    assert a == b and not a[0].existing
    assert isinstance(conflict, StatementConflictError)
    assert not isinstance(first, Exception) and not isinstance(last, Exception)
    assert ledger.size() == start + 3
    assert ledger.statement_entry("twice").envelope.same_as(same)
