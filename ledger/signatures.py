"""Signature checks for many envelopes at once, spread over the machine's cores.

Verification is the costly part of accepting an envelope and needs no ledger state: a key id is
the hash of its public key, so a signature can be checked as soon as the key's bytes are known.
Whether that key may sign at that seq is decided afterwards, in order, by the registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.registry import key_id_of
from domain.statements import KeyAdded, LedgerGenesis, PrincipalRegistered, Statement
from verify.cores import usable_cores
from verify.dsse import Envelope
from verify.keys import decode_public_key

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


class PendingChecks:
    """Signature checks running in worker processes while the caller does other work.

    Jobs are added in envelope order (`add`, possibly several times: a batch still being
    parsed); `wait()` answers for each envelope, in that order.

    `workers` counts the caller. The caller is a batch's critical path (it parses, orders and
    writes the entries), so it keeps a core of its own and `workers - 1` processes check
    meanwhile; at `wait()` it checks, itself, every chunk that no worker has started, from the
    end of the batch back (docs/storage.md, "Batch import"). One process per core, at the same
    priority, so that the import shares the machine evenly with whatever else runs on it."""

    def __init__(self, workers: int, *, parallel: bool) -> None:
        self.count = 0
        self.checked_here = 0  # jobs the caller checked itself at `wait()`
        self._inline: list[str | None] = []
        self._chunks: list[list[_Job] | None] = []  # a chunk is dropped once a worker is done
        self._futures: list[Future[list[str | None]]] = []
        self._results: list[str | None] | None = None
        self._pool: ProcessPoolExecutor | None = None
        if parallel and workers > 1:
            self._pool = ProcessPoolExecutor(
                max_workers=workers - 1, mp_context=get_context("fork")
            )

    def add(self, jobs: list[_Job]) -> None:
        self.count += len(jobs)
        if self._pool is None:
            self._inline.extend(_check_chunk(jobs))
            return
        for i in range(0, len(jobs), CHUNK):
            chunk = jobs[i : i + CHUNK]
            self._chunks.append(chunk)
            future = self._pool.submit(_check_chunk, chunk)
            future.add_done_callback(partial(self._forget, len(self._chunks) - 1))
            self._futures.append(future)

    def _forget(self, index: int, _done: Future[list[str | None]]) -> None:
        self._chunks[index] = None  # (in the pool's thread; one list item: atomic)

    def wait(self) -> list[str | None]:
        """For each envelope, None if every signature verifies, else the reason it does not."""
        if self._results is None:
            if self._pool is None:
                self._results = self._inline
            else:
                try:
                    here = self._check_unstarted()
                    results: list[str | None] = []
                    for i, f in enumerate(self._futures):
                        results.extend(here[i] if i in here else f.result())
                    self._results = results
                finally:
                    self._pool.shutdown(cancel_futures=True)
        return self._results

    def _check_unstarted(self) -> dict[int, list[str | None]]:
        """Check here the chunks still waiting for a worker, last first. The pool hands chunks
        out in order, so the first one from the end that cannot be cancelled ends the search."""
        here: dict[int, list[str | None]] = {}
        for i in reversed(range(len(self._futures))):
            chunk = self._chunks[i]  # (read first: cancelling runs `_forget`)
            if chunk is None or not self._futures[i].cancel():
                break
            here[i] = _check_chunk(chunk)
            self.checked_here += len(chunk)
        return here

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def introduced_keys(statement: Statement) -> list[str]:
    """The public keys (base64) a statement registers: a key id is the hash of its key, so a
    signature by one of them can be checked before the statement is even recorded."""
    if isinstance(statement, LedgerGenesis):
        return [a.public_key for a in statement.admins]
    if isinstance(statement, PrincipalRegistered):
        return list(statement.public_keys)
    if isinstance(statement, KeyAdded):
        return [statement.public_key]
    return []


def _jobs(envelopes: Sequence[Envelope], keys: Mapping[str, bytes]) -> list[_Job]:
    return [
        (env.signing_input(), tuple((s.keyid, keys.get(s.keyid), s.sig) for s in env.signatures))
        for env in envelopes
    ]


def start_checks(
    envelopes: Sequence[Envelope], keys: Mapping[str, bytes], *, workers: int | None = None
) -> PendingChecks:
    """Begin checking every signature of every envelope; `wait()` for the outcome."""
    checks = PendingChecks(
        usable_cores() if workers is None else workers,
        parallel=len(envelopes) >= PARALLEL_THRESHOLD,
    )
    checks.add(_jobs(envelopes, keys))
    return checks


class SignatureStream:
    """Checks for a batch still being parsed: each parsed chunk goes to the workers at once,
    so that checking overlaps parsing. `keys` are the ledger's registered keys; the keys the
    batch itself registers are learnt from it as it comes (a signature by a key registered
    later in the batch finds none, and the registry refuses that line in order anyway)."""

    def __init__(self, keys: Mapping[str, bytes], *, workers: int | None = None) -> None:
        self.keys = dict(keys)
        self.checks = PendingChecks(usable_cores() if workers is None else workers, parallel=True)

    def add(self, envelopes: Sequence[Envelope]) -> None:
        for env in envelopes:
            for pk in introduced_keys(env.statement):
                self.keys[key_id_of(pk)] = decode_public_key(pk)
        self.checks.add(_jobs(envelopes, self.keys))

    def close(self) -> None:
        self.checks.close()
