"""The offline verifier of SPEC §6: every integrity check of a bundle, then the compliance engine.

`verify_bundle(path, ledger_key)` trusts nothing but the ledger's vkey (and, optionally, witness
vkeys and an older checkpoint). It reads the bundle once, as a stream:

1. the ZIP: only SPEC §6's members, each once, within the size and ratio limits (bundle.*);
2. the manifest: signed by the trusted key, naming it, listing exactly the members present,
   each member matching its digest (manifest.*);
3. the checkpoint: signed by the ledger key, with origin, size and root equal to the manifest's,
   and, with witnesses, cosigned by at least the threshold of them (checkpoint.*);
4. the entries: each line the JCS form of an entry whose payload is a schema-valid statement,
   seq 0, 1, 2… without gaps, recorded_at never decreasing, the recomputed root equal to the
   checkpoint's, and as many entries as the manifest says (entries.*);
5. acceptance: entry 0 is the genesis, and every entry is accepted by SPEC §2's rules
   (`domain.registry.Registry`, the ledger's own rules) replayed over the entries before it, every
   signature verifying (acceptance.*);
6. the details: each disclosed detail matches its statement's digest, and the manifest's
   `redacted` says truly whether some committed detail is withheld (details.*);
7. with an older checkpoint: it is signed by the ledger key and the first OLD.size entries
   reproduce its root (since.*).

Signatures and the canonical-form checks run on every usable core (verify/_lines.py); the
sequential checks and the compliance engine run here, in seq order, as the results arrive.
The compliance engine sees each entry as soon as it is accepted, and is dropped at the first
problem: a bundle whose integrity fails gets no verdicts (SPEC §5).
"""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from sys import intern
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.compliance import ComplianceEngine, Verdict
from domain.errors import AcceptanceError, MalformedStatementError, VerificationError
from domain.ids import format_time
from domain.log import LogRecord
from domain.policy import label_of
from domain.registry import Registry
from domain.statements import (
    STATEMENT_TYPES,
    AttestationWithdrawn,
    CapabilityDetermination,
    DeploymentDecision,
    KeyAdded,
    LedgerGenesis,
    ModelRegistered,
    PolicyAdopted,
    PrincipalRegistered,
    SafeguardsDetermination,
    Statement,
    parse_statement,
)
from verify._lines import (
    KeyCache,
    LineResult,
    check_chunk,
    check_lines,
    signature_failure,
    verify_signatures,
)
from verify.bundle import (
    CHECKPOINT,
    DEFAULT_LIMITS,
    DETAILS,
    DIGESTED_MEMBERS,
    ENTRIES,
    MANIFEST,
    MANIFEST_SIG,
    BundleError,
    BundleLimits,
    BundleReader,
    Manifest,
    iter_lines,
    parse_manifest,
    parse_manifest_signature,
)
from verify.cores import usable_cores
from verify.details import MAX_DETAIL_BYTES, DetailError, parse_detail, verify_detail
from verify.dsse import MAX_ENVELOPE_BYTES, PAYLOAD_TYPE, pae
from verify.errors import MalformedKeyError, NotCanonicalError
from verify.jcs import parse_canonical
from verify.keys import verify_signature
from verify.merkle import CompactRange
from verify.note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    Vkey,
    parse_checkpoint_body,
    parse_note,
    verify_checkpoint,
)
from verify.report import (
    BundleInfo,
    Checked,
    ProblemLog,
    Redaction,
    TimelineEvent,
    VerifyReport,
)

# An entry line is an envelope (at most MAX_ENVELOPE_BYTES as JSON, SPEC §2 as the ledger takes
# it) wrapped with its seq and time; a detail line is a detail and its salt.
MAX_ENTRY_LINE = 2 * MAX_ENVELOPE_BYTES
MAX_DETAIL_LINE = MAX_DETAIL_BYTES + 4096
PARALLEL_MIN_ENTRIES = 4096
DEFERRED_BATCH = 256
WITHHELD_LISTED = 20

Progress = Callable[[int, int], None]


class VerifierUsageError(ValueError):
    """The verifier was called wrongly (a key of the wrong type, a threshold out of range)."""


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """What the auditor brings besides the bundle and the ledger key (SPEC §6, §8)."""

    since: str | None = None  # an older checkpoint note the bundle must extend
    witnesses: tuple[Vkey, ...] = ()
    witness_threshold: int | None = None  # default: every witness
    workers: int | None = None  # default: every usable core
    progress: Progress | None = None
    timeline: bool = False  # collect what the HTML timeline draws
    judge: bool = True  # run the compliance engine (False: integrity only, for benchmarks)
    limits: BundleLimits = DEFAULT_LIMITS


def _check_keys(ledger_key: Vkey, options: VerifyOptions) -> int:
    if ledger_key.sig_type != SIG_ED25519:
        raise VerifierUsageError(
            f"ledger key {ledger_key.label}: expected an Ed25519 vkey (type 0x01), found "
            f"type 0x{ledger_key.sig_type:02x}"
        )
    for w in options.witnesses:
        if w.sig_type != SIG_COSIGNATURE_V1:
            raise VerifierUsageError(
                f"witness key {w.label}: expected a cosignature/v1 vkey (type 0x04), found "
                f"type 0x{w.sig_type:02x}"
            )
    n = len(options.witnesses)
    threshold = n if options.witness_threshold is None else options.witness_threshold
    if n == 0 and options.witness_threshold is not None:
        raise VerifierUsageError("--witness-threshold needs at least one --witness")
    if n and not 1 <= threshold <= n:
        raise VerifierUsageError(
            f"--witness-threshold: expected a number from 1 to {n} (the witnesses given), "
            f"found {threshold}"
        )
    return threshold


def verify_bundle(
    path: str | os.PathLike[str], ledger_key: Vkey, options: VerifyOptions | None = None
) -> VerifyReport:
    """Verify a bundle against the trusted ledger key (SPEC §6), then judge it (SPEC §5).

    Raises `VerifierUsageError` for wrong keys or a threshold out of range; every problem of the
    bundle itself is reported, never raised.
    """
    opts = options or VerifyOptions()
    threshold = _check_keys(ledger_key, opts)
    # The run builds millions of long-lived objects and no reference cycles; the cyclic
    # collector would traverse them all again and again (a quarter of the main process's time
    # on 100k entries). Reference counting still frees everything else.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Verification(Path(path), ledger_key, opts, threshold).run()
    finally:
        if collecting:
            gc.enable()


class _Verification:
    """One run of the verifier over one bundle (the numbered steps of the module docstring)."""

    def __init__(self, path: Path, vkey: Vkey, options: VerifyOptions, threshold: int) -> None:
        self.path = path
        self.vkey = vkey
        self.options = options
        self.threshold = threshold
        self.problems = ProblemLog()
        self.info = BundleInfo()
        self.manifest: Manifest | None = None
        self.checkpoint: Checkpoint | None = None
        self.since: Checkpoint | None = None
        self.cosigned: tuple[str, ...] = ()
        # replay state
        self.registry = Registry()
        self.types: dict[str, str] = {}
        self.digests: dict[str, tuple[int, str]] = {}
        self.tree = CompactRange()
        self.engine: ComplianceEngine | None = ComplianceEngine() if options.judge else None
        self.entries = 0
        self.signatures = 0
        self.last_recorded_at: datetime | None = None
        self.last_seq = -1
        self.keys_version = 0
        self.keys_sent = 0
        self.keys_blob: bytes | None = None
        self.types_interned = {t: t for t in STATEMENT_TYPES}
        self.timeline: list[TimelineEvent] = []
        self.decisions: dict[str, str] = {}
        self.redaction = Redaction()
        self.workers: _Workers | None = None

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> VerifyReport:
        try:
            with BundleReader(self.path, self.options.limits) as reader:
                if self._manifest(reader):
                    self._checkpoint(reader)
                    self._since()
                    self._entries(reader)
                    self._details(reader)
        except BundleError as e:
            self.problems.add(e.check, None, str(e))
        return self._report()

    def _report(self) -> VerifyReport:
        verdicts: tuple[Verdict, ...] = ()
        if not self.problems and self.engine is not None:
            verdicts = tuple(self.engine.verdicts())
        checked = Checked(
            manifest_signed_by=self.vkey.label if self.manifest is not None else None,
            checkpoint_size=self.checkpoint.size if self.checkpoint is not None else None,
            entries=self.entries,
            signatures=self.signatures,
            witnesses=self.cosigned,
            witness_threshold=self.threshold,
            since_size=self.since.size if self.since is not None else None,
        )
        return VerifyReport(
            bundle=self.info,
            problems=tuple(self.problems.listed),
            verdicts=verdicts,
            entries=self.entries,
            omitted_problems=self.problems.omitted,
            checked=checked,
            redaction=self.redaction,
            timeline=tuple(self.timeline),
            decisions=self.decisions,
            policies=tuple(dict.fromkeys(v.policy for v in verdicts if v.policy)),
        )

    def _problem(self, check: str, seq: int | None, message: str) -> None:
        self.problems.add(check, seq, message)
        self.engine = None  # SPEC §5: no verdicts for a bundle whose integrity fails

    # -- 2. manifest -----------------------------------------------------------------------
    def _manifest(self, reader: BundleReader) -> bool:
        body = reader.read(MANIFEST)
        try:
            sig = parse_manifest_signature(reader.read(MANIFEST_SIG))
            verify_signature(self.vkey.public_raw, sig, body)
        except VerificationError as e:
            self._problem(
                "manifest.signature",
                None,
                f"manifest.json is not signed by the trusted ledger key {self.vkey.label}: {e}",
            )
            return False
        try:
            manifest = parse_manifest(body)
        except BundleError as e:
            self._problem(e.check, None, str(e))
            return False
        self.manifest = manifest
        self.info = BundleInfo(
            origin=manifest.origin,
            tree_size=manifest.tree_size,
            root=base64.b64encode(manifest.root).decode(),
            redacted=manifest.redacted,
            time_source=manifest.time_source,
        )
        try:
            named = Vkey.parse(manifest.ledger_key)
        except MalformedKeyError:
            named = None
        if named != self.vkey:
            self._problem(
                "manifest.ledger_key",
                None,
                f"manifest names ledger key {manifest.ledger_key[:120]!r}, expected the trusted "
                f"{self.vkey}",
            )
        present = {m for m in reader.members if m in DIGESTED_MEMBERS}
        if set(manifest.files) != present:
            self._problem(
                "manifest.files",
                None,
                f"manifest lists {sorted(manifest.files)}, the bundle holds {sorted(present)}",
            )
        return True

    def _digest(self, name: str, actual: str) -> None:
        assert self.manifest is not None
        expected = self.manifest.files.get(name)
        if expected is not None and not hmac.compare_digest(expected, actual):
            self._problem(
                "manifest.digest", None, f"{name}: expected digest {expected}, found {actual}"
            )

    # -- 3. checkpoint ---------------------------------------------------------------------
    def _checkpoint(self, reader: BundleReader) -> None:
        assert self.manifest is not None
        data = reader.read(CHECKPOINT)
        self._digest(CHECKPOINT, "sha256:" + hashlib.sha256(data).hexdigest())
        try:
            cp, _ = verify_checkpoint(data, self.vkey)
        except (VerificationError, ValueError) as e:
            self._problem(
                "checkpoint.signature",
                None,
                f"the checkpoint is not a checkpoint signed by the ledger key {self.vkey.label}: {e}",
            )
            return
        self.checkpoint = cp
        m = self.manifest
        if (cp.origin, cp.size, cp.root) != (m.origin, m.tree_size, m.root):
            self._problem(
                "checkpoint.manifest",
                None,
                f"checkpoint says origin {cp.origin}, size {cp.size}, root "
                f"{base64.b64encode(cp.root).decode()}; the manifest says origin {m.origin}, "
                f"size {m.tree_size}, root {base64.b64encode(m.root).decode()}",
            )
        if self.options.witnesses:
            try:
                _, note = verify_checkpoint(
                    data,
                    self.vkey,
                    witnesses=self.options.witnesses,
                    witness_threshold=self.threshold,
                )
            except (VerificationError, ValueError) as e:
                self._problem("checkpoint.witnesses", None, str(e))
                return
            self.cosigned = tuple(w.label for w in self.options.witnesses if note.verified_by(w))

    # -- 7. an older checkpoint ------------------------------------------------------------
    def _since(self) -> None:
        assert self.manifest is not None
        if self.options.since is None:
            return
        try:
            old, _ = verify_checkpoint(self.options.since, self.vkey)
        except (VerificationError, ValueError) as e:
            self._problem(
                "since.checkpoint",
                None,
                f"the older checkpoint is not signed by the ledger key {self.vkey.label}: {e}",
            )
            return
        if old.size > self.manifest.tree_size:
            self._problem(
                "since.root",
                None,
                f"the older checkpoint has size {old.size}, this bundle only {self.manifest.tree_size} "
                "entries: it does not extend that checkpoint",
            )
            return
        self.since = old

    # -- 4, 5. entries and acceptance ------------------------------------------------------
    def _entries(self, reader: BundleReader) -> None:
        assert self.manifest is not None
        expected = self.manifest.tree_size
        digest = hashlib.sha256()
        workers = self.options.workers or usable_cores()
        parallel = workers > 1 and expected >= PARALLEL_MIN_ENTRIES

        def chunks() -> Iterator[bytes]:
            rest = b""
            whole_lines = 0
            for block in reader.blocks(ENTRIES):
                digest.update(block)
                data = rest + block if rest else block
                cut = data.rfind(b"\n") + 1
                if cut:
                    whole_lines += data.count(b"\n", 0, cut)
                    yield data[:cut]
                rest = data[cut:]
                if len(rest) > MAX_ENTRY_LINE:
                    raise _LineTooLong(whole_lines)
            if rest:
                self._problem(
                    "entries.format",
                    whole_lines,
                    "entries.jsonl: expected every line to end with a newline, the last does not",
                )
                yield rest

        self.workers = _Workers(workers, self._keys) if parallel else None
        try:
            results = self.workers.results(chunks()) if self.workers else self._serial(chunks())
            for batch in results:
                for result in batch:
                    self._take(result)
                if self.options.progress is not None:
                    self.options.progress(self.entries, expected)
            if self.workers is not None:
                for seq, message in self.workers.failures():
                    self._problem("acceptance.signature", seq, message)
        except _LineTooLong as e:
            self._problem(
                "bundle.limits",
                e.seq,
                f"entries.jsonl: expected lines of at most {MAX_ENTRY_LINE} bytes; the line of "
                f"seq {e.seq} is longer",
            )
            return
        finally:
            if self.workers is not None:
                self.workers.close()
                self.workers = None
        self._digest(ENTRIES, "sha256:" + digest.hexdigest())
        if self.entries != expected:
            self._problem(
                "entries.count",
                None,
                f"expected {expected} entries (the manifest's tree_size), found {self.entries}",
            )
        root = self.tree.root()
        if root != self.manifest.root:
            self._problem(
                "entries.root",
                None,
                f"the recomputed root of the {self.entries} entries is "
                f"{base64.b64encode(root).decode()}, the signed root is "
                f"{base64.b64encode(self.manifest.root).decode()}",
            )
        elif self.checkpoint is not None and root != self.checkpoint.root:
            self._problem(
                "entries.root",
                None,
                f"the recomputed root {base64.b64encode(root).decode()} is not the checkpoint's",
            )

    def _serial(self, chunks: Iterator[bytes]) -> Iterator[list[LineResult]]:
        cache = KeyCache()
        for chunk in chunks:
            if cache.version != self.keys_version:
                cache.set(self.keys_version, self.registry.public_keys())
            yield check_lines(chunk, cache)

    def _keys(self) -> tuple[int, bytes | None]:
        """The key set for the next chunk: sent with the few chunks after each change, after
        which workers keep their copy (a worker with an older copy leaves signatures pending)."""
        if self.keys_blob is None:
            self.keys_blob = pickle.dumps(self.registry.public_keys())
            self.keys_sent = 0
        self.keys_sent += 1
        if self.keys_sent > 4 * usable_cores():
            return self.keys_version, None
        return self.keys_version, self.keys_blob

    def _keys_changed(self) -> None:
        self.keys_version += 1
        self.keys_blob = None

    def _take(self, result: LineResult) -> None:
        """One line's result, in order: the sequential checks of steps 4 and 5."""
        seq_expected = self.entries
        self.entries += 1
        self.tree.append(result[2] if result[0] is None else result[4])
        since = self.since
        if since is not None and self.tree.size == since.size and self.tree.root() != since.root:
            self._problem(
                "since.root",
                None,
                f"the root of the first {since.size} entries is not the older "
                "checkpoint's: this bundle rewrites what that checkpoint signed",
            )
        if result[0] is None:
            self._problem("entries.format", seq_expected, result[1])
            return
        seq, recorded_at, payload, key_ids, _leaf, pending, error = result
        # One problem per break in the sequence: a line whose seq is neither its position nor
        # the one after its predecessor's (a gap is one problem, a swap two).
        if seq != seq_expected and seq != self.last_seq + 1:
            self._problem(
                "entries.seq",
                seq_expected,
                f"line {seq_expected + 1}: expected seq {seq_expected}, found {seq}",
            )
        self.last_seq = seq
        if self.last_recorded_at is not None and recorded_at < self.last_recorded_at:
            self._problem(
                "entries.recorded_at",
                seq_expected,
                f"recorded_at {format_time(recorded_at)} is earlier than the previous entry's "
                f"{format_time(self.last_recorded_at)}",
            )
        self.last_recorded_at = recorded_at
        try:
            statement = parse_statement(json.loads(payload))
        except MalformedStatementError as e:
            self._problem("entries.format", seq_expected, f"entry {seq_expected}: payload: {e}")
            return
        self.signatures += len(key_ids)
        if error is None and pending:
            error = self._verify_pending(seq_expected, payload, pending)
        if error is not None:
            self._problem("acceptance.signature", seq_expected, error)
            return
        try:
            self.registry.check(
                statement,
                key_ids,
                seq=seq_expected,
                recorded_at=recorded_at,
                statement_type=self.types.get,
            )
        except AcceptanceError as e:
            self._problem(e.check, seq_expected, str(e))
            return
        self._accept(seq_expected, recorded_at, statement, key_ids)

    def _verify_pending(
        self, seq: int, payload: bytes, pending: Sequence[tuple[str, bytes]]
    ) -> str | None:
        """Signatures whose key the worker did not know: verified here, or deferred to the
        pool (a failure is then reported at its seq once the pool answers)."""
        message = pae(PAYLOAD_TYPE, payload)
        for kid, sig in pending:
            rec = self.registry.keys.get(kid)
            if rec is None:
                continue  # not a registered key: the acceptance check says so
            if self.workers is not None:
                self.workers.defer(seq, rec.public_raw, sig, message)
                continue
            try:
                Ed25519PublicKey.from_public_bytes(rec.public_raw).verify(sig, message)
            except InvalidSignature:
                return signature_failure(kid)
        return None

    def _accept(
        self, seq: int, recorded_at: datetime, statement: Statement, key_ids: tuple[str, ...]
    ) -> None:
        registry = self.registry
        registry.apply(statement, seq)
        kind = self.types_interned[statement.type]
        self.types[statement.id] = kind
        if isinstance(statement, LedgerGenesis | PrincipalRegistered | KeyAdded):
            self._keys_changed()
        if isinstance(statement, LedgerGenesis):
            self._genesis(statement)
        if statement.details_digest is not None:
            self.digests[statement.id] = (seq, statement.details_digest)
        if isinstance(statement, DeploymentDecision):
            self.decisions[statement.id] = intern(f"{statement.action} {statement.scope}")
        if self.options.timeline:
            self._event(seq, recorded_at, statement)
        if self.engine is not None:
            self.engine.add(LogRecord(seq, recorded_at, statement, key_ids))

    def _genesis(self, genesis: LedgerGenesis) -> None:
        assert self.manifest is not None
        if genesis.origin != self.manifest.origin:
            self._problem(
                "manifest.origin",
                0,
                f"the genesis names origin {genesis.origin}, the manifest {self.manifest.origin}",
            )
        if genesis.time_source != self.manifest.time_source:
            self._problem(
                "manifest.time_source",
                0,
                f"the genesis says time_source {genesis.time_source}, the manifest "
                f"{self.manifest.time_source}",
            )

    def _event(self, seq: int, at: datetime, st: Statement) -> None:
        event: TimelineEvent | None = None
        match st:
            case PolicyAdopted():
                label = label_of(st.policy) or "an unnamed policy"
                event = TimelineEvent(seq, at, "amendment", st.id, None, label, st.effective_at)
            case ModelRegistered():
                event = TimelineEvent(seq, at, "model", st.id, st.model, st.name)
            case CapabilityDetermination():
                what = f"requires {st.required.deployment} deployment / {st.required.security} security"
                event = TimelineEvent(seq, at, "determination", st.id, st.model, what)
            case SafeguardsDetermination():
                event = TimelineEvent(
                    seq,
                    at,
                    "safeguards",
                    st.id,
                    st.model,
                    f"{st.standard} safeguards",
                    st.valid_until,
                )
            case AttestationWithdrawn():
                event = TimelineEvent(
                    seq, at, "withdrawal", st.id, None, "withdrawn", st.invalid_from, st.statement
                )
            case DeploymentDecision():
                event = TimelineEvent(
                    seq, at, "decision", st.id, st.model, f"{st.action} {st.scope}"
                )
            case _:
                pass
        if event is not None:
            self.timeline.append(event)

    # -- 6. details ------------------------------------------------------------------------
    def _details(self, reader: BundleReader) -> None:
        assert self.manifest is not None
        disclosed: set[str] = set()
        if reader.has(DETAILS):
            digest = hashlib.sha256()

            def blocks() -> Iterator[bytes]:
                for block in reader.blocks(DETAILS):
                    digest.update(block)
                    yield block

            for n, line in enumerate(iter_lines(blocks(), MAX_DETAIL_LINE, DETAILS), start=1):
                self._detail(n, line, disclosed)
            self._digest(DETAILS, "sha256:" + digest.hexdigest())
        withheld = [(seq, sid) for sid, (seq, _) in self.digests.items() if sid not in disclosed]
        withheld.sort()
        self.redaction = Redaction(
            committed=len(self.digests),
            disclosed=len(disclosed),
            withheld=tuple(withheld[:WITHHELD_LISTED]),
            withheld_count=len(withheld),
        )
        if self.manifest.redacted != bool(withheld):
            says = "redacted" if self.manifest.redacted else "not redacted"
            self._problem(
                "manifest.redacted",
                None,
                f"the manifest says the bundle is {says}, but {len(withheld)} of "
                f"{len(self.digests)} committed details are withheld",
            )

    def _detail(self, n: int, line: bytes, disclosed: set[str]) -> None:
        # Each line is the JCS form of a detail, as the ledger writes it: a detail line's bytes
        # are fixed like an entry's (docs/verifier.md).
        try:
            detail = parse_detail(parse_canonical(line[:-1] if line.endswith(b"\n") else line))
        except (DetailError, NotCanonicalError) as e:
            self._problem("details.format", None, f"details.jsonl line {n}: {e}")
            return
        committed = self.digests.get(detail.statement)
        if committed is None:
            self._problem(
                "details.statement",
                None,
                f"details.jsonl line {n}: statement {detail.statement!r} has no details_digest "
                "in this bundle",
            )
            return
        seq, expected = committed
        if detail.statement in disclosed:
            self._problem(
                "details.statement", seq, f"details.jsonl line {n}: {detail.statement!r} again"
            )
            return
        try:
            verify_detail(detail, expected)
        except DetailError as e:
            self._problem("details.digest", seq, str(e))
            return
        disclosed.add(detail.statement)


class _LineTooLong(Exception):
    def __init__(self, seq: int) -> None:
        super().__init__(seq)
        self.seq = seq


def _pool_context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class _Workers:
    """A pool of processes: chunks checked in order, a bounded window ahead (memory stays a few
    chunks, whatever the bundle's size), and signatures deferred by the main process."""

    def __init__(self, workers: int, keys: Callable[[], tuple[int, bytes | None]]) -> None:
        self.workers = workers
        self.keys = keys
        self.pool: Pool = _pool_context().Pool(workers)
        self.batch: list[tuple[int, bytes, bytes, bytes]] = []
        self.deferred: list[AsyncResult[list[tuple[int, str]]]] = []

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()

    def results(self, chunks: Iterator[bytes]) -> Iterator[list[LineResult]]:
        window: deque[AsyncResult[list[LineResult]]] = deque()
        # The first chunk alone: it holds the genesis and the first registrations, and every
        # chunk sent after it is taken carries the keys they introduce.
        ahead = 0
        for chunk in chunks:
            version, blob = self.keys()
            window.append(self.pool.apply_async(check_chunk, (chunk, version, blob)))
            if len(window) > ahead:
                yield window.popleft().get()
                ahead = 2 * self.workers
        while window:
            yield window.popleft().get()

    def defer(self, seq: int, public_raw: bytes, sig: bytes, message: bytes) -> None:
        """A signature by a key introduced after its chunk was sent: checked in the pool too."""
        self.batch.append((seq, public_raw, sig, message))
        if len(self.batch) >= DEFERRED_BATCH:
            self.deferred.append(self.pool.apply_async(verify_signatures, (self.batch,)))
            self.batch = []

    def failures(self) -> list[tuple[int, str]]:
        if self.batch:
            self.deferred.append(self.pool.apply_async(verify_signatures, (self.batch,)))
            self.batch = []
        return [failure for job in self.deferred for failure in job.get()]


def parse_vkey_text(text: str) -> Vkey:
    """A vkey given by the auditor, with surrounding whitespace allowed."""
    return Vkey.parse(text.strip())


def read_checkpoint_text(data: bytes) -> str:
    """An older checkpoint file: a signed note whose text is a checkpoint (signatures unchecked).

    Raises `VerificationError` when the file is not one (a usage error for the CLI)."""
    note = parse_note(data)
    parse_checkpoint_body(note.text)
    return data.decode("utf-8")


__all__ = [
    "VerifierUsageError",
    "VerifyOptions",
    "parse_vkey_text",
    "read_checkpoint_text",
    "usable_cores",
    "verify_bundle",
]
