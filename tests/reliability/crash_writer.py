"""A writer that submits until it is killed: `python -m tests.reliability.crash_writer ...`.

After each committed submit (one envelope or a small batch) it appends one line per entry to the
acknowledgement file, `statement_id seq leaf_hash_hex`, and fsyncs it: a line exists only for an
entry the ledger acknowledged. A kill may land anywhere, including in the middle of a line, which
the checker ignores (it was never a complete acknowledgement).
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.ids import format_time
from ledger.keyfile import read_private_key
from ledger.store import Ledger, Submission
from verify.dsse import envelope_for_statement, parse_envelope


def write_until_killed(
    url: str,
    ledger_key_file: str,
    issuer: str,
    issuer_key: str,
    ack_path: str,
    prefix: str,
    seed: int,
    ready: Callable[[], None] = lambda: print("ready", flush=True),
) -> None:
    rng = random.Random(seed)
    signer = read_private_key(Path(issuer_key))
    ledger = Ledger(url, signer=read_private_key(Path(ledger_key_file)))
    ack = open(ack_path, "a", buffering=1)  # noqa: SIM115 - lives until the process is killed
    ready()
    i = 0
    while True:
        n = rng.choice((1, 1, 1, 2, 3, 5, 12))
        subs = []
        for k in range(n):
            st = {
                "type": "noncompliance_reported",
                "id": f"{prefix}-{i + k}",
                "issued_at": format_time(datetime.now(UTC)),
                "issuer": issuer,
                "regarding": None,
                "summary": f"crash drill {i + k}",
            }
            subs.append(Submission(parse_envelope(envelope_for_statement(st, signer))))
        recorded = ledger.submit_batch(subs)
        ack.write("".join(f"{r.statement_id} {r.seq} {r.leaf_hash.hex()}\n" for r in recorded))
        ack.flush()
        os.fsync(ack.fileno())
        i += n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ledger", required=True)
    p.add_argument("--ledger-key-file", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--issuer-key", required=True)
    p.add_argument("--ack", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    write_until_killed(a.ledger, a.ledger_key_file, a.issuer, a.issuer_key, a.ack, a.prefix, a.seed)


if __name__ == "__main__":
    main()


def write_count(
    url: str,
    ledger_key_file: str,
    issuer: str,
    issuer_key: str,
    ack_path: str,
    prefix: str,
    count: int,
    seed: int,
) -> None:
    """Submit `count` envelopes one at a time; now and then submit the last one again (a client
    retrying after a lost answer), which must return the same entry."""
    rng = random.Random(seed)
    signer = read_private_key(Path(issuer_key))
    ack = open(ack_path, "a", buffering=1)  # noqa: SIM115
    target: Any
    if url.startswith(("http://", "https://")):
        from ledger.client import RemoteLedger  # the service signs with its own key

        target = RemoteLedger(url)
    else:
        target = Ledger(url, signer=read_private_key(Path(ledger_key_file)))
    with target as ledger:
        last = None
        for i in range(count):
            st = {
                "type": "noncompliance_reported",
                "id": f"{prefix}-{i}",
                "issued_at": format_time(datetime.now(UTC)),
                "issuer": issuer,
                "regarding": None,
                "summary": f"concurrency drill {i}",
            }
            sub = Submission(parse_envelope(envelope_for_statement(st, signer)))
            r = ledger.submit(sub.envelope)
            if last is not None and rng.random() < 0.1:
                again = ledger.submit(last[0].envelope)
                if not again.existing or again.seq != last[1]:
                    raise AssertionError(
                        f"retry of {last[0].envelope.statement.id} got seq {again.seq}"
                    )
            last = (sub, r.seq)
            ack.write(f"{r.statement_id} {r.seq} {r.leaf_hash.hex()}\n")
    ack.close()
