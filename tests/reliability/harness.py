"""Crash safety (issue 9): kill a writer with SIGKILL at random moments, reopen the ledger after
each kill, and check every invariant an auditor relies on.

After each kill:
- every acknowledged entry is present and byte-identical (same seq, same leaf hash);
- no partial entry exists: every stored entry parses as the exact JCS of an entry, with its
  statement index row, its level-0 tree node, and nothing stored beyond the head;
- seq is gap-free;
- the tree matches the entries: the root recomputed from the entries equals the head's root and
  the latest checkpoint's;
- every stored checkpoint verifies with the ledger's vkey and its root is the root of the entries'
  prefix of its size, so the latest checkpoint is consistent with every earlier one.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from ledger import schema
from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.store import Ledger
from tests.reliability.crash_writer import write_until_killed
from verify.entry import parse_entry
from verify.keys import Ed25519Signer
from verify.merkle import CompactRange, leaf_hash
from verify.note import Vkey, parse_checkpoint_body, parse_note, verify_checkpoint


@dataclass
class CrashReport:
    kills: int = 0
    acknowledged: int = 0
    lost: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self, backend: str) -> str:
        return (
            f"crash safety on {backend}: {self.kills} kills survived, {self.acknowledged} "
            f"acknowledged entries, {self.lost} lost, {self.entries} entries in the ledger, "
            f"{len(self.problems)} problems"
        )


@dataclass
class CrashRig:
    folder: Path
    url: str
    key_file: Path
    issuer_key: Path
    vkey: Vkey
    ack: Path
    checked: int = 0  # entries fully parsed and checked already
    signatures_checked: int = 0  # checkpoints up to this size had their signature verified
    leaves: list[bytes] = field(default_factory=list)

    @classmethod
    def create(cls, folder: Path, url: str) -> CrashRig:
        key_file = folder / "ledger.key"
        signer = Ed25519Signer.generate()
        write_private_key(key_file, signer)
        with Ledger(url, signer=signer) as ledger:
            h = HistoryWriter(ledger, datetime.now(UTC), asserted=False)
            h.principal("alice", "ledger-admin")
            h.principal("writer", "evaluator")
            ledger.initialize(h.genesis_envelope("crash.example/ledger", "alice", asserted=False))
            h.register_all("alice")
            h.save_keys(folder / "keys")
            vkey = Vkey.parse(ledger.vkey)
        return cls(folder, url, key_file, folder / "keys" / "writer.pem", vkey, folder / "acks")

    def run_writer(self, kill_after_s: float, prefix: str, seed: int) -> None:
        """Fork a writer process (the harness has already imported everything, so it starts in
        milliseconds), let it submit, then SIGKILL it wherever it is."""
        ctx = multiprocessing.get_context("fork")
        ready = ctx.Event()
        proc = ctx.Process(
            target=write_until_killed,
            args=(
                self.url,
                str(self.key_file),
                "writer",
                str(self.issuer_key),
                str(self.ack),
                prefix,
                seed,
                ready.set,
            ),
            daemon=True,
        )
        proc.start()
        if not ready.wait(timeout=60):
            proc.kill()
            raise RuntimeError("writer did not start within 60 s")
        time.sleep(kill_after_s)
        if not proc.is_alive():
            raise RuntimeError(f"writer ended by itself (exit {proc.exitcode})")
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=30)
        if proc.exitcode != -signal.SIGKILL:
            raise RuntimeError(f"writer was not killed: exit {proc.exitcode}")

    def acknowledged(self) -> list[tuple[str, int, str]]:
        if not self.ack.exists():
            return []
        out = []
        for line in self.ack.read_text().split("\n")[:-1]:  # the last piece may be torn
            sid, seq, lh = line.split(" ")
            out.append((sid, int(seq), lh))
        return out

    def check(self, report: CrashReport) -> None:
        """Reopen the ledger and check every invariant; problems go into the report."""
        problems = report.problems
        with Ledger(self.url) as ledger:
            size = ledger.size()
            events = ledger.recorder.events_record_cls.__table__
            with ledger.engine.connect() as conn:
                raw = [
                    bytes(r[0])
                    for r in conn.execute(
                        select(events.c.state)
                        .where(events.c.originator_id == schema.LOG_ORIGINATOR)
                        .order_by(events.c.originator_version)
                    )
                ]
            if len(raw) != size:
                problems.append(f"{len(raw)} entries readable below a head of {size}")
            self.leaves = [leaf_hash(r) for r in raw]
            for seq in range(self.checked, len(raw)):
                entry = parse_entry(raw[seq])  # raises on a partial or malformed entry
                if entry.seq != seq:
                    problems.append(f"entry at {seq} says seq {entry.seq}")
            self.checked = len(raw)
            with ledger.engine.connect() as conn:
                n_statements = conn.execute(
                    select(func.count()).select_from(schema.statements)
                ).scalar()
                n_leaves = conn.execute(
                    select(func.count())
                    .select_from(schema.tree_nodes)
                    .where(schema.tree_nodes.c.level == 0)
                ).scalar()
                n_events = conn.execute(
                    select(func.count())
                    .select_from(events)
                    .where(events.c.originator_id == schema.LOG_ORIGINATOR)
                ).scalar()
                head_root = conn.execute(select(schema.head.c.root)).scalar()
                checkpoints = conn.execute(
                    select(schema.checkpoints.c.size, schema.checkpoints.c.note).order_by(
                        schema.checkpoints.c.size
                    )
                ).all()
            for what, n in (
                ("statement rows", n_statements),
                ("leaf nodes", n_leaves),
                ("stored events", n_events),
            ):
                if n != size:
                    problems.append(f"{n} {what} for {size} entries: a partial append")
        roots = _prefix_roots(self.leaves, {int(s) for s, _ in checkpoints} | {size})
        if head_root is None or bytes(head_root) != roots[size]:
            problems.append(f"head root differs from the root of the {size} entries")
        if not checkpoints or int(checkpoints[-1][0]) != size:
            problems.append(f"latest checkpoint is not at the head size {size}")
        for cp_size, note in checkpoints:
            if int(cp_size) > self.signatures_checked:
                cp, _ = verify_checkpoint(note, self.vkey)
            else:  # verified after an earlier kill; its root is still compared below
                cp = parse_checkpoint_body(parse_note(note).text)
            if cp.root != roots[int(cp_size)]:
                problems.append(
                    f"checkpoint {cp_size} is not the root of the first {cp_size} entries"
                )
        self.signatures_checked = size
        acked = self.acknowledged()
        report.acknowledged = len(acked)
        for sid, seq, lh in acked:
            if seq >= len(self.leaves) or self.leaves[seq].hex() != lh:
                report.lost += 1
                problems.append(f"acknowledged {sid} at seq {seq} is missing or changed")
        report.entries = size


def _prefix_roots(leaves: list[bytes], sizes: set[int]) -> dict[int, bytes]:
    cr = CompactRange()
    out: dict[int, bytes] = {}
    if 0 in sizes:
        out[0] = cr.root()
    for i, lh in enumerate(leaves, 1):
        cr.append(lh)
        if i in sizes:
            out[i] = cr.root()
    return out


def campaign(folder: Path, url: str, kills: int, seed: int = 1) -> CrashReport:
    rng = random.Random(seed)
    rig = CrashRig.create(folder, url)
    report = CrashReport()
    for k in range(kills):
        rig.run_writer(rng.uniform(0.0, 0.25), prefix=f"k{k}", seed=rng.randrange(1 << 30))
        report.kills += 1
        rig.check(report)
    return report
