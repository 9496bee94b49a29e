"""`PendingChecks`: worker processes check a batch's signatures while the caller works; at
`wait()` the caller checks, itself, the chunks no worker has started. Every envelope still gets
its own answer, in order, whoever checked it."""

from __future__ import annotations

import pytest

from ledger import signatures
from ledger.signatures import PendingChecks
from verify.keys import Ed25519Signer


@pytest.fixture
def jobs() -> list[signatures._Job]:
    signer = Ed25519Signer.generate()
    message = b"DSSEv1 a payload"
    good: signatures._Job = (message, (("k" * 64, signer.public_raw, signer.sign(message)),))
    forged: signatures._Job = (message, (("k" * 64, signer.public_raw, bytes(64)),))
    unknown: signatures._Job = (message, (("u" * 64, None, signer.sign(message)),))
    out = [good] * 6400
    out[0] = forged  # in the first chunk: a worker's
    out[3000] = unknown
    out[-1] = forged  # in the last chunk: the caller's
    return out


def _expected(n: int) -> list[str | None]:
    bad = "signature by key kkkkkkkkkkkkkkkk… does not verify over this payload"
    out: list[str | None] = [None] * n
    out[0] = out[-1] = bad
    out[3000] = "signature by key uuuuuuuuuuuuuuuu…: expected a registered key, found none"
    return out


def test_the_caller_checks_what_no_worker_started(
    jobs: list[signatures._Job], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signatures, "CHUNK", 64)  # 100 chunks; one worker process
    checks = PendingChecks(2, parallel=True)
    try:
        checks.add(jobs[:2000])
        checks.add(jobs[2000:])  # as a batch still being parsed
        checks._futures[0].result()  # the worker has done the first chunk
        results = checks.wait()
    finally:
        checks.close()
    assert results == _expected(len(jobs))
    assert checks.count == len(jobs)
    assert 0 < checks.checked_here < len(jobs)


def test_one_worker_means_the_caller_alone(jobs: list[signatures._Job]) -> None:
    checks = PendingChecks(1, parallel=True)
    checks.add(jobs)
    assert checks.wait() == _expected(len(jobs))
    assert checks.checked_here == 0  # checked inline, as they were added
