"""The ledger keeps witness cosignatures with its checkpoints (a real SQLite file): they come out
of `Ledger.checkpoint(size)` as extra signature lines, so exports carry them, and the offline
verifier's `--witness … --witness-threshold K` counts them (SPEC §6, §8)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.errors import LedgerStateError
from ledger.store import Ledger
from verify.errors import SignatureError
from verify.keys import Ed25519Signer
from verify.note import (
    MAX_SIGNATURES,
    CosignatureError,
    MalformedCheckpointError,
    Vkey,
    cosign_checkpoint,
    parse_note,
    verify_checkpoint,
)

from .conftest import LedgerFixture, make_ledger, run_cli
from .witnessing import grow, ledger_vkey, make_witness

W1 = Ed25519Signer.generate()
W2 = Ed25519Signer.generate()
W1_KEY = Vkey.cosignature("w1.example/w", W1.public_raw)
W2_KEY = Vkey.cosignature("w2.example/w", W2.public_raw)


@pytest.fixture
def fx(tmp_path: Path) -> LedgerFixture:
    return make_ledger(tmp_path, asserted=True)


def test_stored_cosignatures_come_out_of_checkpoint_and_verify(fx: LedgerFixture) -> None:
    ledger = fx.writer.ledger
    size = ledger.size()
    note = ledger.checkpoint(size)
    line1 = cosign_checkpoint(note, "w1.example/w", W1, 1_700_000_000)
    line2 = cosign_checkpoint(note, "w2.example/w", W2, 1_700_000_001)
    assert ledger.add_cosignatures(size, note + line1, [W1_KEY]) == (W1_KEY.label,)
    assert ledger.add_cosignatures(size, note + line2 + line1, [W1_KEY, W2_KEY]) == (W2_KEY.label,)
    stored = ledger.checkpoint(size)
    assert stored.startswith(note)  # the ledger's own note, unchanged, then the cosignatures
    assert {line1, line2} <= set(stored.splitlines(keepends=True))
    vkey = Vkey.parse(ledger.vkey)
    verify_checkpoint(stored, vkey, witnesses=[W1_KEY, W2_KEY], witness_threshold=2)
    # Another handle on the same file sees them (they are in the database, not in memory).
    with Ledger(fx.url) as again:
        assert again.checkpoint(size) == stored
    # The signed row itself was never rewritten.
    with ledger.engine.connect() as conn:
        row = conn.execute(text("SELECT note FROM rsp_checkpoints WHERE size = :s"), {"s": size})
        assert row.scalar() == note


def test_unknown_lines_are_ignored_and_a_repeat_adds_nothing(fx: LedgerFixture) -> None:
    ledger = fx.writer.ledger
    size = ledger.size()
    note = ledger.checkpoint(size)
    stranger = cosign_checkpoint(note, "stranger.example/w", Ed25519Signer.generate(), 5)
    assert ledger.add_cosignatures(size, note + stranger, [W1_KEY]) == ()
    assert ledger.checkpoint(size) == note
    line = cosign_checkpoint(note, "w1.example/w", W1, 7)
    assert ledger.add_cosignatures(size, note + line, [W1_KEY]) == (W1_KEY.label,)
    later = cosign_checkpoint(note, "w1.example/w", W1, 8)
    assert ledger.add_cosignatures(size, note + later, [W1_KEY]) == ()
    assert ledger.checkpoint(size) == note + line  # the first line stays


def test_a_bad_or_misplaced_cosignature_is_refused_and_nothing_stored(fx: LedgerFixture) -> None:
    ledger = fx.writer.ledger
    size = ledger.size()
    note = ledger.checkpoint(size)
    grow(fx, 2)
    newer = ledger.checkpoint(size + 2)
    over_newer = cosign_checkpoint(newer, "w1.example/w", W1, 9)
    with pytest.raises(SignatureError):
        ledger.add_cosignatures(size, note + over_newer, [W1_KEY])
    with pytest.raises(MalformedCheckpointError, match="another text"):
        ledger.add_cosignatures(size, newer + over_newer, [W1_KEY])
    assert ledger.checkpoint(size) == note


def test_a_past_size_without_a_stored_checkpoint_is_signed_then_cosigned(
    tmp_path: Path,
) -> None:
    fx = make_ledger(tmp_path, asserted=True)
    ledger = fx.writer.ledger
    grow(fx, 3)
    with ledger.engine.connect() as conn:
        conn.execute(text("DELETE FROM rsp_checkpoints WHERE size = 2"))
        conn.commit()
    note = ledger.checkpoint(2)
    line = cosign_checkpoint(note, "w1.example/w", W1, 11)
    assert ledger.add_cosignatures(2, note + line, [W1_KEY]) == (W1_KEY.label,)
    verify_checkpoint(ledger.checkpoint(2), Vkey.parse(ledger.vkey), witnesses=[W1_KEY])


def test_at_most_fifteen_cosignatures_fit_one_checkpoint(fx: LedgerFixture) -> None:
    ledger = fx.writer.ledger
    size = ledger.size()
    note = ledger.checkpoint(size)
    keys, lines = [], []
    for i in range(MAX_SIGNATURES):
        signer = Ed25519Signer.generate()
        keys.append(Vkey.cosignature(f"w{i}.example/w", signer.public_raw))
        lines.append(cosign_checkpoint(note, f"w{i}.example/w", signer, 1))
    for k, line in zip(keys[:15], lines[:15], strict=True):
        ledger.add_cosignatures(size, note + line, [k])
    full = ledger.checkpoint(size)
    assert len(parse_note(full).signatures) == MAX_SIGNATURES
    with pytest.raises(LedgerStateError, match="at most 15 cosignatures"):
        ledger.add_cosignatures(size, note + lines[15], [keys[15]])
    assert ledger.checkpoint(size) == full


def test_a_ledger_made_before_the_table_existed_gains_it(fx: LedgerFixture) -> None:
    with fx.writer.ledger.engine.connect() as conn:
        conn.execute(text("DROP TABLE rsp_cosignatures"))
        conn.commit()
    with Ledger(fx.url, signer=None) as old:
        size = old.size()
        note = old.checkpoint(size)  # reads without the table
        line = cosign_checkpoint(note, "w1.example/w", W1, 3)
        assert old.add_cosignatures(size, note + line, [W1_KEY]) == (W1_KEY.label,)
        assert old.checkpoint(size) == note + line


def test_export_carries_cosignatures_and_verify_counts_known_witnesses(
    tmp_path: Path,
) -> None:
    fx = make_ledger(tmp_path, asserted=True)
    vkey = ledger_vkey(fx)
    w1 = make_witness(tmp_path, "w1.example/w", follows=fx)
    w2 = make_witness(tmp_path, "w2.example/w", follows=fx)
    stranger = make_witness(tmp_path, "stranger.example/w", follows=fx)
    cp = tmp_path / "cp"
    cp.write_text(fx.writer.ledger.checkpoint())
    for w in (w1, stranger):
        cosign = w.cli("cosign", "--checkpoint", str(cp), "--out", str(tmp_path / "cos"))
        assert cosign.code == 0, cosign.err
        attach = fx.cli("checkpoint", "--attach", str(tmp_path / "cos"), "--witness-key", w.vkey)
        assert attach.code == 0, attach.err
    bundle = tmp_path / "b.zip"
    r = fx.cli("export", "--out", str(bundle))
    assert r.code == 0, r.err

    def verify(*witness_args: str) -> int:
        return run_cli("verify", str(bundle), "--ledger-key", vkey, *witness_args).code

    assert verify() == 0
    assert verify("--witness", w1.vkey) == 0
    assert verify("--witness", w1.vkey, "--witness", w2.vkey, "--witness-threshold", "1") == 0
    # w2 never cosigned: 2 of {w1, w2} is not met. The stranger's cosignature does not count.
    assert verify("--witness", w1.vkey, "--witness", w2.vkey, "--witness-threshold", "2") == 3
    assert verify("--witness", w2.vkey) == 3
    assert verify("--witness", w1.vkey, "--witness", stranger.vkey) == 0
    # And without the verifier: the bundle's checkpoint as verify/ reads it.
    stored = fx.writer.ledger.checkpoint()
    with pytest.raises(CosignatureError):
        verify_checkpoint(stored, Vkey.parse(vkey), witnesses=[Vkey.parse(w2.vkey)])


def _cosign_in_process(url: str, size: int, name: str, pem: bytes) -> tuple[str, ...]:
    signer = Ed25519Signer.from_pem(pem)
    with Ledger(url) as ledger:
        note = ledger.checkpoint(size)
        line = cosign_checkpoint(note, name, signer, 1_700_000_000)
        key = Vkey.cosignature(name, signer.public_raw)
        return ledger.add_cosignatures(size, note + line, [key])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_concurrent_writers_store_each_witness_once(backend_url: str) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from tests.ledgers import open_new_ledger

    opened = open_new_ledger(backend_url)
    size = opened.ledger.size()
    opened.ledger.checkpoint(size)
    signers = [Ed25519Signer.generate() for _ in range(5)]
    names = [f"w{i}.example/w" for i in range(5)]
    # Each witness twice: two processes storing the same witness at once store it once.
    jobs = [(n, s.to_pem()) for n, s in zip(names, signers, strict=True)] * 2
    with ProcessPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(_cosign_in_process, backend_url, size, n, p) for n, p in jobs]
        added = [f.result(timeout=120) for f in futures]
    keys = [Vkey.cosignature(n, s.public_raw) for n, s in zip(names, signers, strict=True)]
    assert sorted(label for labels in added for label in labels) == sorted(k.label for k in keys)
    stored = opened.ledger.checkpoint(size)
    assert len(parse_note(stored).signatures) == 1 + len(keys)
    verify_checkpoint(stored, opened.vkey, witnesses=keys)
