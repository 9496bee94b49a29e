"""`submit --check` judges a large batch inside its write transaction (`JudgedAsRecorded.judge`
as `submit_batch`'s `on_appended`), while the signature checks run, and a small one after the
commit. Its verdicts must be exactly those of replaying the log after the commit, however the
log moved in between; the hook runs before the signatures are awaited, so a bad signature still
records nothing; and a refused submission costs no replay."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.demo import build_demo_history, load_demo_policy
from cli.entries import submit
from domain.compliance import Verdict
from domain.ids import format_time
from ledger import compliance
from ledger.compliance import JudgedAsRecorded, replay
from ledger.errors import EnvelopeRefusedError
from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.store import Ledger, RecordedEntry, Submission
from tests.ledgers import stale_decisions
from verify.dsse import EnvelopeSignature, sign_payload
from verify.keys import Ed25519Signer


@pytest.fixture
def demo(tmp_path: Path) -> tuple[str, Ed25519Signer, HistoryWriter]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    signer = Ed25519Signer.generate()
    write_private_key(tmp_path / "ledger.db.key", signer)
    with Ledger(url, signer=signer) as ledger:
        h = build_demo_history(ledger, load_demo_policy())
    return url, signer, h


def _replayed(ledger: Ledger, ids: set[str]) -> list[Verdict]:
    return [v for v in replay(ledger).verdicts() if v.statement in ids]


def _as_json(verdicts: list[Verdict]) -> list[dict[str, object]]:
    return [v.to_json() for v in verdicts]


@pytest.mark.parametrize(
    ("during", "case"),
    [
        (True, "alone"),
        (True, "another writer in between"),
        (True, "hook called twice"),
        (False, "alone"),
        (False, "another writer in between"),
    ],
)
def test_verdicts_equal_a_replay_after_the_commit(
    demo: tuple[str, Ed25519Signer, HistoryWriter], during: bool, case: str
) -> None:
    url, signer, h = demo
    h.advance(days=1)
    envs = stale_decisions(h, "deploy-batch", 3)
    with Ledger(url, signer=signer) as ledger, Ledger(url, signer=signer) as other:
        judge = JudgedAsRecorded(ledger, envs, during=during)  # (during: replays 22 entries)
        hook: Callable[[list[RecordedEntry]], None] | None = judge.judge if during else None
        if case == "another writer in between":
            other.submit(stale_decisions(h, "deploy-other", 1)[0], recorded_at=h.clock)
        if case == "hook called twice":  # as a retried transaction would: the engine saw one

            def hook(recorded: list[RecordedEntry]) -> None:
                judge.judge(recorded)
                judge.judge(recorded)

        recorded = ledger.submit_batch(
            [Submission(e) for e in envs], recorded_at=h.clock, on_appended=hook
        )
        verdicts = judge.verdicts(recorded)
        expected = _replayed(ledger, {e.statement.id for e in envs})
    first = 23 if case == "another writer in between" else 22
    assert [r.seq for r in recorded] == [first, first + 1, first + 2]
    assert len(expected) == 3 and {v.verdict for v in expected} == {"noncompliant"}
    assert _as_json(verdicts) == _as_json(expected)


def test_the_hook_runs_before_the_signatures_are_awaited(
    demo: tuple[str, Ed25519Signer, HistoryWriter],
) -> None:
    url, signer, h = demo
    h.advance(days=1)
    envs = stale_decisions(h, "deploy-forged", 300)  # parallel checks
    last = envs[-1]
    forged = EnvelopeSignature(last.signatures[0].keyid, bytes(64))
    envs[-1] = dataclasses.replace(last, signatures=(forged, *last.signatures[1:]))
    seen: list[int] = []
    with Ledger(url, signer=signer) as ledger:
        size, note = ledger.size(), ledger.checkpoint()
        with pytest.raises(EnvelopeRefusedError, match="line 300: signature by key"):
            ledger.submit_batch(
                [Submission(e) for e in envs],
                recorded_at=h.clock,
                on_appended=lambda recorded: seen.append(len(recorded)),
            )
        assert seen == [300]  # the batch was written and judged, then refused whole
        assert ledger.size() == size
        assert ledger.checkpoint() == note


@pytest.mark.parametrize("refused", [True, False])
def test_a_single_submit_replays_only_once_recorded(
    demo: tuple[str, Ed25519Signer, HistoryWriter],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    refused: bool,
) -> None:
    url, _, h = demo
    h.advance(days=1)
    env = stale_decisions(h, "deploy-one", 1)[0]
    if refused:  # signed by a key the ledger does not know
        env = dataclasses.replace(
            env,
            signatures=(sign_payload(env.payload, Ed25519Signer.generate()),),
        )
    path = tmp_path / "one.json"
    path.write_text(json.dumps(env.to_json()))
    replays: list[int | None] = []

    def counted(ledger: Ledger, stop: int | None = None, **kw: int) -> object:
        replays.append(stop)
        return replay(ledger, stop, **kw)

    monkeypatch.setattr(compliance, "replay", counted)
    at = format_time(h.clock)
    result = CliRunner().invoke(submit, [str(path), "--ledger", url, "--recorded-at", at, "--json"])
    if refused:
        assert result.exit_code != 0 and "expected a registered key" in result.output
        assert replays == []
    else:
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["compliance"]["verdict"] == "noncompliant"
        assert replays == [22]  # the log before the new entry, after the commit
