"""A process that appends entries to a ledger and catches the projection up after most of them,
forever; `test_projections.py` SIGKILLs it at random moments (between an append and its
projection update, or in the middle of either).

    python projection_worker.py URL LEDGER_KEY_FILE EVALUATOR_KEY_FILE SEED
"""

from __future__ import annotations

import random
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from cli.state import LedgerEntrySource
from domain.ids import format_time
from ledger.keyfile import read_private_key
from ledger.store import Ledger
from projections.projection import StateProjection
from verify.dsse import envelope_for_statement, parse_envelope

THRESHOLDS = ("CBRN-3", "AI-RD-4", "CBRN-4")


def main() -> None:
    url, ledger_key, evaluator_key, seed = sys.argv[1:5]
    ledger = Ledger(url, signer=read_private_key(Path(ledger_key)))
    evaluator = read_private_key(Path(evaluator_key))
    projection = StateProjection(ledger.engine, LedgerEntrySource(ledger))
    rng = random.Random(int(seed))
    while True:
        t = ledger.entry(ledger.size() - 1).recorded_at + timedelta(minutes=1)
        common = {"id": f"w-{uuid.uuid4()}", "issued_at": format_time(t), "issuer": "eve"}
        if rng.random() < 0.5:
            statement = {
                **common,
                "type": "compute_measured",
                "model": "m1",
                "effective_compute": 1e25 * (1 + rng.random()),
            }
        else:
            statement = {
                **common,
                "type": "capability_finding",
                "model": rng.choice(["m1", "m2"]),
                "threshold": rng.choice(THRESHOLDS),
                "assessment": "comprehensive",
                "outcome": rng.choice(["ruled_out", "early_warning"]),
                "effective_compute": 1e25,
                "evaluations": [],
            }
        envelope = parse_envelope(envelope_for_statement(statement, evaluator))
        ledger.submit(envelope, recorded_at=t)
        print("appended", flush=True)
        if rng.random() < 0.7:
            projection.catch_up()
            print("caught up", flush=True)


if __name__ == "__main__":
    main()
