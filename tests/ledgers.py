"""Ledgers and histories that tests on several levels build alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.history import HistoryWriter
from ledger.store import Ledger
from verify.dsse import Envelope
from verify.keys import Ed25519Signer
from verify.note import Vkey


@dataclass
class Opened:
    ledger: Ledger
    writer: HistoryWriter
    ledger_key: Ed25519Signer

    @property
    def vkey(self) -> Vkey:
        return Vkey.parse(self.ledger.vkey)


def open_new_ledger(url: str, *, asserted: bool = True, writers: int = 0) -> Opened:
    """Initialise a ledger at `url`: alice (ledger-admin), dario (ceo) and `writers` evaluators."""
    key = Ed25519Signer.generate()
    ledger = Ledger(url, signer=key)
    start = datetime(2025, 5, 14, 9, tzinfo=UTC) if asserted else datetime.now(UTC)
    h = HistoryWriter(ledger, start, asserted=asserted)
    h.principal("alice", "ledger-admin")
    h.principal("dario", "ceo")
    for i in range(writers):
        h.principal(f"writer{i}", "evaluator")
    ledger.initialize(
        h.genesis_envelope("example.org/contract", "alice", asserted=asserted),
        recorded_at=h.clock if asserted else None,
    )
    h.register_all("alice")
    return Opened(ledger, h, key)


def stale_decisions(h: HistoryWriter, prefix: str, n: int) -> list[Envelope]:
    """On the demo history (`cli.demo`), deployment decisions citing a determination that is
    stale by then: each is judged, and noncompliant."""
    out = []
    for i in range(n):
        st = h.statement(
            "deployment_decision",
            "dario",
            id=f"{prefix}-{i}",
            model="claude-demo",
            action="deploy",
            scope="internal",
            determination="determination-claude-demo-1",
            safeguards=["safeguards-asl3"],
        )
        out.append(h.envelope(st, ["dario", "jared"]))
    return out
