"""Signature checks for many envelopes at once, spread over the machine's cores.

Verification is the costly part of accepting an envelope and needs no ledger state: a key id is
the hash of its public key, so a signature can be checked as soon as the key's bytes are known.
Whether that key may sign at that seq is decided afterwards, in order, by the registry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from verify.dsse import Envelope

PARALLEL_THRESHOLD = 256
CHUNK = 512

_Job = tuple[bytes, tuple[tuple[str, bytes | None, bytes], ...]]


def _check(job: _Job) -> str | None:
    message, sigs = job
    for keyid, public_raw, sig in sigs:
        if public_raw is None:
            return f"signature by key {keyid[:16]}…: expected a registered key, found none"
        try:
            Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, message)
        except InvalidSignature:
            return f"signature by key {keyid[:16]}… does not verify over this payload"
    return None


def _check_chunk(jobs: list[_Job]) -> list[str | None]:
    return [_check(j) for j in jobs]


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class PendingChecks:
    """Signature checks running in worker processes while the caller does other work."""

    def __init__(self, jobs: list[_Job], workers: int) -> None:
        self._results: list[str | None] | None = None
        self._pool: ProcessPoolExecutor | None = None
        if workers <= 1 or len(jobs) < PARALLEL_THRESHOLD:
            self._results = _check_chunk(jobs)
            return
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))
        chunks = [jobs[i : i + CHUNK] for i in range(0, len(jobs), CHUNK)]
        self._futures = [self._pool.submit(_check_chunk, c) for c in chunks]

    def wait(self) -> list[str | None]:
        """For each envelope, None if every signature verifies, else the reason it does not."""
        if self._results is None:
            assert self._pool is not None
            try:
                results: list[str | None] = []
                for f in self._futures:
                    results.extend(f.result())
                self._results = results
            finally:
                self._pool.shutdown(cancel_futures=True)
        return self._results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def start_checks(
    envelopes: Sequence[Envelope], keys: Mapping[str, bytes], *, workers: int | None = None
) -> PendingChecks:
    """Begin checking every signature of every envelope; `wait()` for the outcome."""
    jobs: list[_Job] = [
        (env.signing_input(), tuple((s.keyid, keys.get(s.keyid), s.sig) for s in env.signatures))
        for env in envelopes
    ]
    return PendingChecks(jobs, usable_cores() if workers is None else workers)


def verify_all(
    envelopes: Sequence[Envelope], keys: Mapping[str, bytes], *, workers: int | None = None
) -> list[str | None]:
    """For each envelope, None if every signature verifies, else the reason it does not."""
    return start_checks(envelopes, keys, workers=workers).wait()
