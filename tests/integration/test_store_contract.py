"""The storage contract: one abstract suite that every backend passes (as eventsourcing's
`tests/persistence.py`), run here against a SQLite file and a real PostgreSQL server alike.

A backend subclass provides only the `url` fixture. Everything asserted is observable through
`Ledger`'s public methods or the verifier's own checks (SPEC §2, §3): exact bytes back, gap-free
seq, resubmission and conflicts, atomic batches, signed checkpoints and proofs at every past size,
many writer processes at once, and an idempotent, versioned schema.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from cli.demo import build_demo_history, load_demo_policy
from domain.ids import format_time
from ledger import db, schema
from ledger.compliance import JudgedAsRecorded, replay
from ledger.errors import (
    EnvelopeRefusedError,
    LedgerStateError,
    NotFoundError,
    StatementConflictError,
    TimeError,
)
from ledger.history import HistoryWriter
from ledger.signatures import PARALLEL_THRESHOLD
from ledger.store import Ledger, Submission
from tests.ledgers import Opened, open_new_ledger, stale_decisions
from verify.details import details_digest, make_detail
from verify.dsse import Envelope, add_signature, envelope_for_statement, parse_envelope
from verify.keys import Ed25519Signer
from verify.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion
from verify.note import verify_checkpoint

WRITER_PROCESSES = 4
SUBMITS_PER_WRITER = 25


def report(h: HistoryWriter, issuer: str, sid: str, summary: str = "late notice") -> Envelope:
    st = h.statement("noncompliance_reported", issuer, id=sid, regarding=None, summary=summary)
    return h.envelope(st, [issuer])


def _write_many(url: str, ledger_pem: bytes, name: str, pem: bytes, count: int) -> list[int]:
    """One writer process: `count` submits through its own `Ledger` (its own engine and pool)."""
    ledger = Ledger(url, signer=Ed25519Signer.from_pem(ledger_pem))
    signer = Ed25519Signer.from_pem(pem)
    seqs = []
    try:
        for i in range(count):
            st = {
                "type": "noncompliance_reported",
                "id": f"{name}-{i:04d}",
                "issued_at": format_time(datetime.now(UTC) - timedelta(seconds=1)),
                "issuer": name,
                "regarding": None,
                "summary": f"report {i} by {name}",
            }
            seqs.append(ledger.submit(parse_envelope(envelope_for_statement(st, signer))).seq)
    finally:
        ledger.close()
    return seqs


def _create_schema(url: str) -> str:
    ledger = Ledger(url)
    try:
        ledger.create_schema()
    finally:
        ledger.close()
    return "ok"


class StoreContract:
    """What every storage backend must do. Subclasses give the `url` fixture."""

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def opened(self, url: str) -> Iterator[Opened]:
        o = open_new_ledger(url)
        yield o
        o.ledger.close()

    # -- append and read ----------------------------------------------------------------------
    def test_append_then_read_exact_bytes(self, opened: Opened) -> None:
        ledger, h = opened.ledger, opened.writer
        size = ledger.size()
        h.advance(minutes=1)
        salt = bytes(range(32))
        detail = make_detail("report-1", salt, {"transcript": "…", "score": 0.25})
        st = h.statement(
            "noncompliance_reported",
            "dario",
            id="report-1",
            regarding=None,
            summary="a decision was recorded late",
            details_digest=details_digest(salt, detail.details_jcs),
        )
        env = h.envelope(st, ["dario"])
        recorded = ledger.submit(env, detail=detail, recorded_at=h.clock)
        assert recorded.seq == size and not recorded.existing
        assert ledger.size() == size + 1

        entry = ledger.entry(recorded.seq)
        assert entry.seq == recorded.seq and entry.recorded_at == h.clock
        assert entry.envelope.payload == env.payload  # the signed bytes, exactly
        assert entry.envelope.same_as(env)
        assert leaf_hash(entry.leaf) == recorded.leaf_hash
        assert list(ledger.raw_entries(recorded.seq, recorded.seq + 1)) == [entry.leaf]
        assert ledger.statement_entry("report-1").leaf == entry.leaf
        stored_detail = ledger.detail("report-1")
        assert stored_detail is not None
        assert stored_detail.salt == salt and stored_detail.details_jcs == detail.details_jcs
        assert ledger.detail(st["issuer"]) is None
        assert [e.seq for e in ledger.entries(0, ledger.size())] == list(range(ledger.size()))

        with pytest.raises(NotFoundError, match="expected a seq from 0"):
            ledger.entry(ledger.size())
        with pytest.raises(NotFoundError, match="no statement"):
            ledger.statement_entry("never-recorded")

    def test_seq_has_no_gaps_across_refusals(self, opened: Opened) -> None:
        ledger, h = opened.ledger, opened.writer
        stranger = Ed25519Signer.generate()
        for i in range(6):
            h.advance(minutes=1)
            ledger.submit(report(h, "dario", f"ok-{i}"), recorded_at=h.clock)
            # Refused in several ways between accepted ones: each must leave no hole.
            unknown_key = parse_envelope(
                envelope_for_statement(
                    h.statement(
                        "noncompliance_reported", "dario", regarding=None, summary="forged"
                    ),
                    stranger,
                )
            )
            with pytest.raises(EnvelopeRefusedError):
                ledger.submit(unknown_key, recorded_at=h.clock)
            not_admin = h.envelope(
                h.statement("roles_set", "dario", principal="dario", roles=["ledger-admin"]),
                ["dario"],
            )
            with pytest.raises(EnvelopeRefusedError, match="ledger-admin"):
                ledger.submit(not_admin, recorded_at=h.clock)
        entries = list(ledger.entries())
        assert [e.seq for e in entries] == list(range(ledger.size()))
        ids = [e.envelope.statement.id for e in entries]
        assert [i for i in ids if i.startswith("ok-")] == [f"ok-{i}" for i in range(6)]
        # The stored events themselves: one per seq, versions 0..n-1.
        t = ledger.recorder.events_record_cls.__table__
        with ledger.engine.connect() as conn:
            versions = conn.execute(select(t.c.originator_version).order_by(t.c.id)).scalars()
            assert list(versions) == list(range(ledger.size()))

    def test_recorded_at_never_goes_back(self, opened: Opened) -> None:
        ledger, h = opened.ledger, opened.writer
        h.advance(minutes=5)
        ledger.submit(report(h, "dario", "later"), recorded_at=h.clock)
        earlier = h.clock - timedelta(minutes=1)
        with pytest.raises(TimeError, match="goes backwards"):
            ledger.submit(report(h, "dario", "earlier"), recorded_at=earlier)
        times = [e.recorded_at for e in ledger.entries()]
        assert times == sorted(times)

    # -- resubmission and conflicts -----------------------------------------------------------
    def test_resubmission_is_a_no_op(self, opened: Opened) -> None:
        ledger, h = opened.ledger, opened.writer
        h.advance(minutes=1)
        env = report(h, "dario", "same")
        first = ledger.submit(env, recorded_at=h.clock)
        size = ledger.size()
        h.advance(minutes=1)
        again = ledger.submit(env, recorded_at=h.clock)
        assert again.existing and (again.seq, again.leaf_hash) == (first.seq, first.leaf_hash)
        assert again.recorded_at == first.recorded_at
        batch = ledger.submit_batch([Submission(env), Submission(env)], recorded_at=h.clock)
        assert [(r.seq, r.existing) for r in batch] == [(first.seq, True)] * 2
        assert ledger.size() == size

    def test_other_envelope_reusing_an_id_is_refused(self, opened: Opened) -> None:
        ledger, h = opened.ledger, opened.writer
        h.advance(minutes=1)
        env = report(h, "dario", "taken")
        ledger.submit(env, recorded_at=h.clock)
        size = ledger.size()
        other_payload = report(h, "dario", "taken", summary="a different account")
        with pytest.raises(StatementConflictError, match="different envelope"):
            ledger.submit(other_payload, recorded_at=h.clock)
        # Same payload, another set of signatures: still another envelope (SPEC §2).
        cosigned = add_signature(env, h.principals["alice"].signer)
        with pytest.raises(StatementConflictError, match="different envelope"):
            ledger.submit(cosigned, recorded_at=h.clock)
        assert ledger.size() == size
        assert ledger.statement_entry("taken").envelope.same_as(env)

    # -- atomic batches ------------------------------------------------------------------------
    def test_a_refused_line_records_nothing(self, opened: Opened) -> None:
        ledger, h = opened.ledger, opened.writer
        size, head = ledger.size(), ledger.checkpoint()
        h.advance(minutes=1)
        good = report(h, "dario", "batch-good")
        bad = h.envelope(
            h.statement("roles_set", "alice", principal="nobody", roles=["ceo"]), ["alice"]
        )
        after = report(h, "dario", "batch-after")
        with pytest.raises(EnvelopeRefusedError) as refused:
            ledger.submit_batch(
                [Submission(good), Submission(bad), Submission(after)], recorded_at=h.clock
            )
        assert refused.value.line == 2
        forged = parse_envelope(
            envelope_for_statement(
                h.statement("noncompliance_reported", "dario", regarding=None, summary="x"),
                Ed25519Signer.generate(),
            )
        )
        with pytest.raises(EnvelopeRefusedError) as refused:
            ledger.submit_batch([Submission(good), Submission(forged)], recorded_at=h.clock)
        assert refused.value.line == 2
        assert ledger.size() == size and ledger.checkpoint() == head
        for sid in ("batch-good", "batch-after"):
            with pytest.raises(NotFoundError):
                ledger.statement_entry(sid)
        # The same good envelopes go through once the bad line is gone, at the next seq.
        done = ledger.submit_batch([Submission(good), Submission(after)], recorded_at=h.clock)
        assert [r.seq for r in done] == [size, size + 1]

    def test_a_large_batch_is_what_eventsourcing_reads_back(self, opened: Opened) -> None:
        # A batch past PARALLEL_THRESHOLD takes the bulk path (signature workers, executemany):
        # eventsourcing's own readers must see exactly those entries, in seq order, and a
        # forged line anywhere in it must still leave nothing behind.
        ledger, h = opened.ledger, opened.writer
        size = ledger.size()
        h.advance(minutes=1)
        envs = [report(h, "dario", f"bulk-{i:04d}") for i in range(PARALLEL_THRESHOLD + 44)]
        forged = parse_envelope(
            envelope_for_statement(
                h.statement("noncompliance_reported", "dario", regarding=None, summary="x"),
                Ed25519Signer.generate(),
            )
        )
        with pytest.raises(EnvelopeRefusedError) as refused:
            ledger.submit_batch(
                [Submission(e) for e in envs[:100]] + [Submission(forged)], recorded_at=h.clock
            )
        assert refused.value.line == 101 and ledger.size() == size
        done = ledger.submit_batch([Submission(e) for e in envs], recorded_at=h.clock)
        assert [r.seq for r in done] == list(range(size, size + len(envs)))
        notifications = ledger.recorder.select_notifications(start=None, limit=10_000)
        tail = notifications[-len(envs) :]
        assert [n.originator_version for n in tail] == [r.seq for r in done]
        assert {n.originator_id for n in tail} == {schema.LOG_ORIGINATOR}
        assert [n.id for n in tail] == sorted(n.id for n in tail)
        events = ledger.recorder.select_events(schema.LOG_ORIGINATOR, gt=size - 1)
        assert [e.state for e in events] == [entry.leaf for entry in ledger.entries(size)]
        assert [leaf_hash(e.state) for e in events] == [r.leaf_hash for r in done]

    # -- checkpoints and proofs ---------------------------------------------------------------
    def test_a_large_batch_is_judged_in_its_transaction(self, url: str) -> None:
        """`submit --check` on a large import judges it inside the write transaction, while
        the signatures are checked, reading the log so far through another connection: the
        verdicts are those of a replay after the commit."""
        with Ledger(url, signer=Ed25519Signer.generate()) as ledger:
            h = build_demo_history(ledger, load_demo_policy())
            h.advance(days=1)
            envs = stale_decisions(h, "deploy-large", PARALLEL_THRESHOLD)
            judge = JudgedAsRecorded(ledger, envs, during=True)
            recorded = ledger.submit_batch(
                [Submission(e) for e in envs], recorded_at=h.clock, on_appended=judge.judge
            )
            ids = {e.statement.id for e in envs}
            expected = [v.to_json() for v in replay(ledger).verdicts() if v.statement in ids]
            assert len(expected) == PARALLEL_THRESHOLD
            assert [v.to_json() for v in judge.verdicts(recorded)] == expected

    def test_checkpoints_and_proofs_at_every_past_size(self, opened: Opened) -> None:
        ledger, h = opened.ledger, opened.writer
        for i in range(4):
            h.advance(minutes=1)
            ledger.submit(report(h, "dario", f"single-{i}"), recorded_at=h.clock)
        h.advance(minutes=1)
        ledger.submit_batch(
            [Submission(report(h, "dario", f"batched-{i}")) for i in range(3)],
            recorded_at=h.clock,
        )
        n = ledger.size()
        leaves = [leaf_hash(raw) for raw in ledger.raw_entries()]
        roots = {}
        for size in range(1, n + 1):
            cp, _ = verify_checkpoint(ledger.checkpoint(size), opened.vkey)
            assert (cp.size, cp.root) == (size, root_of(leaves[:size]))
            roots[size] = cp.root
        for size in range(1, n + 1):
            for seq in range(size):
                proof, note = ledger.inclusion_proof(seq, size)
                cp, _ = verify_checkpoint(note, opened.vkey)
                verify_inclusion(leaves[seq], seq, size, proof, cp.root)
            for old in range(1, size + 1):
                verify_consistency(
                    old, size, ledger.consistency_proof(old, size), roots[old], roots[size]
                )
        # A size in the middle of a batch gets its checkpoint signed on demand, the same again.
        assert ledger.checkpoint(n - 1) == ledger.checkpoint(n - 1)

    # -- many writers --------------------------------------------------------------------------
    def test_concurrent_writer_processes(self, url: str) -> None:
        opened = open_new_ledger(url, asserted=False, writers=WRITER_PROCESSES)
        start = opened.ledger.size()
        h = opened.writer
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=WRITER_PROCESSES, mp_context=ctx) as pool:
            futures = [
                pool.submit(
                    _write_many,
                    url,
                    opened.ledger_key.to_pem(),
                    f"writer{i}",
                    h.principals[f"writer{i}"].signer.to_pem(),
                    SUBMITS_PER_WRITER,
                )
                for i in range(WRITER_PROCESSES)
            ]
            per_writer = [f.result(timeout=240) for f in futures]
        ledger = opened.ledger
        n = ledger.size()
        assert n == start + WRITER_PROCESSES * SUBMITS_PER_WRITER
        for seqs in per_writer:
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert sorted(s for seqs in per_writer for s in seqs) == list(range(start, n))
        entries = list(ledger.entries())
        assert [e.seq for e in entries] == list(range(n))
        ids = [e.envelope.statement.id for e in entries]
        assert len(set(ids)) == n
        times = [e.recorded_at for e in entries]
        assert times == sorted(times)
        leaves = [leaf_hash(e.leaf) for e in entries]
        final, _ = verify_checkpoint(ledger.checkpoint(), opened.vkey)
        assert (final.size, final.root) == (n, root_of(leaves))
        for size in range(1, n):
            cp, _ = verify_checkpoint(ledger.checkpoint(size), opened.vkey)
            assert cp.root == root_of(leaves[:size])
            verify_consistency(size, n, ledger.consistency_proof(size, n), cp.root, final.root)
        ledger.close()

    # -- schema ---------------------------------------------------------------------------------
    def test_schema_creation_is_idempotent_and_versioned(self, url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=3, mp_context=ctx) as pool:
            results = list(pool.map(_create_schema, [url] * 3, timeout=120))
        assert results == ["ok"] * 3
        opened = open_new_ledger(url)
        ledger, h = opened.ledger, opened.writer
        ledger.create_schema()  # again, on a ledger with entries: nothing changes
        ledger.create_schema()
        size, head = ledger.size(), ledger.checkpoint()
        with ledger.engine.connect() as conn:
            versions = conn.execute(
                select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
            ).all()
        assert [v for (v,) in versions] == [str(schema.SCHEMA_VERSION)]
        h.advance(minutes=1)
        ledger.submit(report(h, "dario", "after-recreate"), recorded_at=h.clock)
        assert ledger.size() == size + 1
        assert ledger.consistency_proof(size, size + 1) is not None
        assert head != ledger.checkpoint()

        with ledger.engine.begin() as conn:
            conn.execute(
                update(schema.meta)
                .where(schema.meta.c.key == "schema_version")
                .values(value=str(schema.SCHEMA_VERSION + 1))
            )
        ledger.close()
        with Ledger(url) as reopened, pytest.raises(LedgerStateError, match="schema version"):
            reopened.size()
        with Ledger(url) as reopened, pytest.raises(LedgerStateError, match="schema version"):
            reopened.create_schema()

    def test_a_second_genesis_is_refused(self, opened: Opened) -> None:
        h = opened.writer
        with pytest.raises(LedgerStateError, match="already"):
            opened.ledger.initialize(
                h.genesis_envelope("example.org/other", "alice"), recorded_at=h.clock
            )
        assert opened.ledger.origin == "example.org/contract"


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.mark.postgres
class TestPostgreSQLStore(StoreContract):
    @pytest.fixture
    def url(self, pg_url: str) -> str:
        return pg_url

    def test_pooled_connections_the_server_dropped_are_replaced(
        self, opened: Opened, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # No ping on a connection used a moment ago; one idle past PG_PING_AFTER_IDLE_S is
        # pinged, and one the server ended meanwhile is replaced before the ledger sees it.
        ledger, h = opened.ledger, opened.writer
        with ledger.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with ledger.engine.connect() as conn:  # the same pooled connection, no ping
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == pid
        monkeypatch.setattr(db, "PG_PING_AFTER_IDLE_S", 0.0)
        with Ledger(opened.ledger.url).engine.connect() as other:
            ended = other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
        assert ended
        size = ledger.size()  # would fail with a dead connection without the ping
        h.advance(minutes=1)
        recorded = ledger.submit(report(h, "dario", "after-restart"), recorded_at=h.clock)
        assert recorded.seq == size
        with ledger.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
