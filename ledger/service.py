"""The ledger as an HTTP service (issue 7): FastAPI on uvicorn, one `Ledger` per worker process.

Invariants:
- a write needs no credential: an envelope authenticates itself, and the ledger's acceptance
  rules (SPEC §2) decide. Order comes from the database (the head lock), never from the process
  that took the request, so any number of workers and hosts may serve one ledger;
- every read, and every export, needs the bearer read token when one is configured; only
  `/healthz`, `/v1/ledger-key` (the ledger's public identity) and `/openapi.json` are open;
- a request body over `max_body_bytes` is refused (413) before it is read whole;
- every refusal is a JSON `ErrorResponse` with a 4xx status, and a malformed request is a 400,
  never a 500; a 500 means a bug, is logged with its traceback, and says nothing more;
- entries leave the service as their exact JCS bytes.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import stat
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.compliance import Verdict, summary
from domain.errors import LedgerError, VerificationError
from domain.ids import TimeFormatError, is_ident, is_statement_id, parse_time
from ledger import api
from ledger._group_commit import Committed, GroupCommitter
from ledger._service_follow import ComplianceFeed, StoreEntrySource, compliance_warnings
from ledger._service_http import BodyLimitMiddleware, ReadTokenError, add_error_handlers
from ledger._service_receipts import Receipts
from ledger.errors import EnvelopeRefusedError, KeyFileError, NotFoundError, UsageError
from ledger.export import export_bundle
from ledger.keyfile import read_private_key
from ledger.store import Ledger, RecordedEntry, Submission
from projections import StateProjection
from verify.details import Detail, parse_detail
from verify.dsse import Envelope, parse_envelope
from verify.merkle import leaf_hash
from verify.note import parse_checkpoint_body, parse_note
from verify.tlog_proof import TlogProof, format_tlog_proof

log = logging.getLogger("rsp_ledger.service")

ENTRIES_NDJSON = "application/x-ndjson"

# serve passes its configuration to each worker process through these (uvicorn starts workers
# from an import string, so they cannot take Python objects).
ENV_LEDGER = "RSP_SERVE_LEDGER"
ENV_KEY_FILE = "RSP_SERVE_LEDGER_KEY_FILE"
ENV_TOKEN_FILE = "RSP_SERVE_READ_TOKEN_FILE"
ENV_MAX_BODY = "RSP_SERVE_MAX_BODY_BYTES"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# -- the service --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Receipt:
    """What a submitter is told once its entry is committed: the entry, its inclusion proof in
    the tree of `size` with that tree's signed checkpoint, and the statement's verdict."""

    entry: RecordedEntry
    size: int
    proof: list[bytes]
    checkpoint: str
    verdict: Verdict | None
    warnings: list[str]


@dataclass
class Service:
    ledger: Ledger
    feed: ComplianceFeed
    projection: StateProjection
    read_token: str | None
    proofs: Receipts = field(init=False)
    committer: GroupCommitter[Receipt] = field(init=False)

    def __post_init__(self) -> None:
        self.proofs = Receipts(self.ledger)
        self.committer = GroupCommitter(self.ledger, self.receipts)

    def status(self, model: str | None, as_of: datetime | None) -> dict[str, Any]:
        """The status document (issue 5), as `rsp-ledger status` computes it."""
        if as_of is not None:
            return self.projection.status_as_of(as_of, model)
        ledger = self.ledger
        if ledger.time_source == "asserted":  # the operator's clock: the last recorded time
            at = ledger.entry(ledger.size() - 1).recorded_at
        else:
            at = datetime.now(UTC)
        return self.projection.status(at, model)

    def judge(
        self, recorded: list[tuple[RecordedEntry, Envelope]]
    ) -> tuple[list[Verdict | None], list[str]]:
        """Verdicts and warnings for what was just recorded. The entries are recorded whatever
        this says (SPEC §2: a ledger MUST NOT refuse a decision because it breaks the policy)."""
        try:
            verdicts = self.feed.verdicts_for(recorded)
        except (VerificationError, LedgerError) as e:
            log.warning("compliance preview failed: %s", e)
            return [None] * len(recorded), [f"compliance not checked: {e}"]
        return verdicts, [w for v in verdicts for w in compliance_warnings(v)]

    def receipts(self, group: Sequence[Committed]) -> list[Receipt]:
        """The group committer's `complete`: receipts and verdicts for a committed group, in seq
        order. New entries are proved in the tree their transaction signed (one read for the
        whole group); a resubmission in the latest tree, with any witness cosignatures."""
        proofs: dict[int, tuple[list[bytes], str]] = {}
        by_size: dict[int, dict[int, bytes]] = {}
        for c in group:
            if c.entry.existing:
                proofs[c.entry.seq] = self.ledger.inclusion_proof(c.entry.seq, c.size)
            else:
                by_size.setdefault(c.size, {})[c.entry.seq] = c.entry.leaf_hash
        for size, leaves in by_size.items():
            note, found = self.proofs.prove(leaves, size)
            proofs.update((seq, (proof, note)) for seq, proof in found.items())
        try:
            verdicts = self.feed.verdicts_for([(c.entry, c.submission.envelope) for c in group])
            warned = [compliance_warnings(v) for v in verdicts]
        except (VerificationError, LedgerError) as e:
            log.warning("compliance preview failed: %s", e)
            verdicts = [None] * len(group)
            warned = [[f"compliance not checked: {e}"]] * len(group)
        return [
            Receipt(c.entry, c.size, *proofs[c.entry.seq], verdict, warnings)
            for c, verdict, warnings in zip(group, verdicts, warned, strict=True)
        ]


_bearer = HTTPBearer(auto_error=False, description="The read token (serve --read-token-file).")


# The dependencies are coroutines so that FastAPI runs them on the event loop: a plain function
# would be sent to the thread pool and back on every request.
async def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def _reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Service:
    """The service, for a request that may read: with the bearer token, if one is configured."""
    service: Service = request.app.state.service
    if service.read_token is None:
        return service
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), service.read_token.encode()):
        raise ReadTokenError(
            "this ledger's reads need the bearer read token: expected "
            "`Authorization: Bearer <token>` (RSP_LEDGER_TOKEN for the CLI), found "
            + ("a wrong token" if credentials is not None else "none")
        )
    return service


Reader = Annotated[Service, Depends(_reader)]
Writer = Annotated[Service, Depends(_service)]


def _parse_time(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except TimeFormatError as e:
        raise UsageError(f"{what}: {e}") from e


def _check_id(value: str, valid: Callable[[str], bool], what: str) -> None:
    if not valid(value):
        more = "…" if len(value) > 64 else ""
        raise UsageError(f"expected {what} (SPEC §1), found {value[:64]!r}{more}")


_EXPORT_HEADERS = {
    "X-Bundle-Tree-Size": {"schema": {"type": "integer"}},
    "X-Bundle-Details-Committed": {"schema": {"type": "integer"}},
    "X-Bundle-Details-Written": {"schema": {"type": "integer"}},
}


def _submission(envelope: Mapping[str, Any], details: Mapping[str, Any] | None) -> Submission:
    env = parse_envelope(dict(envelope))
    detail: Detail | None = None if details is None else parse_detail(dict(details))
    return Submission(env, detail)


def create_app(
    ledger: Ledger,
    *,
    read_token: str | None = None,
    max_body_bytes: int = api.DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The ASGI app for one worker. `ledger` must be initialised and hold the ledger key."""
    service = Service(
        ledger,
        ComplianceFeed(ledger),
        StateProjection(ledger.engine, StoreEntrySource(ledger)),
        read_token,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.committer.close()  # answers what is queued, then stops

    app = FastAPI(
        lifespan=lifespan,
        title="rsp-ledger",
        summary="A signed, event-sourced audit ledger for frontier-AI safety frameworks",
        version="1",
        openapi_url="/openapi.json",
        docs_url=None,  # the interactive pages load scripts from a CDN: not on an audit ledger
        redoc_url=None,
        responses={
            400: {"model": api.ErrorResponse},
            401: {"model": api.ErrorResponse},
            413: {"model": api.ErrorResponse},
            503: {"model": api.ErrorResponse},
        },
    )
    app.state.service = service
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    add_error_handlers(app)
    _add_routes(app)
    return app


def _add_routes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=api.Health, tags=["service"])
    def healthz() -> api.Health:
        """Liveness: the process answers. It does not touch the database."""
        return api.Health(status="ok")

    @app.get("/v1/ledger-key", response_model=api.LedgerKeyOut, tags=["ledger"])
    def ledger_key(service: Writer) -> api.LedgerKeyOut:
        """The verifier key (vkey), origin and time source: the ledger's public identity."""
        ledger = service.ledger
        return api.LedgerKeyOut(
            vkey=ledger.vkey, origin=ledger.origin, time_source=ledger.time_source
        )

    @app.post(
        "/v1/entries",
        response_model=api.SubmitResponse,
        status_code=201,
        responses={
            200: {"model": api.SubmitResponse, "description": "already recorded (resubmission)"},
            409: {"model": api.ErrorResponse},
            422: {"model": api.ErrorResponse},
        },
        tags=["entries"],
    )
    async def submit(body: api.SubmitRequest, service: Writer) -> JSONResponse:
        """Record an envelope (and its details): the entry, its inclusion proof and any
        compliance warning. Resubmitting the same envelope is a no-op that answers 200."""
        # On the event loop: parsing is short, and the wait for the group commit holds no thread.
        sub = _submission(body.envelope, body.details)
        when = _parse_time(body.recorded_at, "recorded_at")
        r = await service.committer.submit_async(sub, when)
        out = api.SubmitResponse(
            entry=api.RecordedEntryOut.of(r.entry),
            inclusion_proof=api.InclusionProofOut(
                index=r.entry.seq,
                size=r.size,
                leaf_hash=b64(r.entry.leaf_hash),
                hashes=[b64(h) for h in r.proof],
                checkpoint=r.checkpoint,
                tlog_proof=format_tlog_proof(TlogProof(r.entry.seq, tuple(r.proof), r.checkpoint)),
            ),
            compliance=None if r.verdict is None else api.VerdictOut.of(r.verdict),
            warnings=r.warnings,
        )
        return JSONResponse(out.model_dump(), status_code=200 if r.entry.existing else 201)

    @app.post(
        "/v1/batches",
        response_model=api.BatchResponse,
        responses={409: {"model": api.ErrorResponse}, 422: {"model": api.ErrorResponse}},
        tags=["entries"],
    )
    def submit_batch(body: api.BatchRequest, service: Writer) -> api.BatchResponse:
        """Record envelopes in order, in one transaction: all of them or, if any line is
        refused, none (the error names the line)."""
        subs = []
        for i, item in enumerate(body.entries):
            try:
                subs.append(_submission(item.envelope, item.details))
            except VerificationError as e:
                raise EnvelopeRefusedError(f"line {i + 1}: {e}", line=i + 1) from e
        when = _parse_time(body.recorded_at, "recorded_at")
        # Signatures checked in this thread: a threaded server must not fork a process pool.
        recorded = service.ledger.submit_batch(subs, recorded_at=when, workers=1)
        judged, warnings = service.judge(
            [(r, s.envelope) for r, s in zip(recorded, subs, strict=True) if not r.existing]
        )
        last = max(r.seq for r in recorded) + 1
        return api.BatchResponse(
            entries=[api.RecordedEntryOut.of(r) for r in recorded],
            recorded=sum(1 for r in recorded if not r.existing),
            checkpoint=service.ledger.checkpoint(last),
            verdicts=[api.VerdictOut.of(v) for v in judged if v is not None],
            warnings=warnings,
        )

    @app.get(
        "/v1/entries",
        response_model=api.EntriesPage,
        responses={200: {"content": {ENTRIES_NDJSON: {}}}},
        tags=["entries"],
    )
    def entries(
        request: Request,
        service: Reader,
        start: Annotated[int, Query(alias="from", ge=0)] = 0,
        limit: Annotated[int, Query(ge=0, le=api.MAX_PAGE_ENTRIES)] = api.DEFAULT_PAGE_ENTRIES,
    ) -> Response:
        """A page of entries, each exactly as its leaf hashes it. With `Accept:
        application/x-ndjson`, the page is JCS lines (as the bundle's entries.jsonl)."""
        size = service.ledger.size()
        stop = min(size, start + limit)
        raw = list(service.ledger.raw_entries(start, stop)) if start < stop else []
        nxt = stop if stop < size else None
        headers = {"X-Ledger-Size": str(size)}
        if ENTRIES_NDJSON in request.headers.get("accept", ""):
            body = b"".join(r + b"\n" for r in raw)
            return Response(body, media_type=ENTRIES_NDJSON, headers=headers)
        body = (
            b'{"entries":['
            + b",".join(raw)
            + b'],"next":'
            + json.dumps(nxt).encode()
            + b',"size":%d,"start":%d}' % (size, start)
        )
        return Response(body, media_type="application/json", headers=headers)

    @app.get(
        "/v1/entries/{seq}",
        responses={200: {"content": {"application/json": {}}}, 404: {"model": api.ErrorResponse}},
        tags=["entries"],
    )
    def entry(seq: int, service: Reader) -> Response:
        """One entry: its exact JCS bytes (SPEC §3), the bytes its Merkle leaf hashes."""
        if seq < 0:
            raise NotFoundError(f"no entry {seq}: expected a seq ≥ 0")
        return Response(service.ledger.entry(seq).leaf, media_type="application/json")

    @app.get(
        "/v1/statements/{statement_id}",
        response_model=api.StatementOut,
        responses={404: {"model": api.ErrorResponse}},
        tags=["entries"],
    )
    def statement(statement_id: str, service: Reader) -> api.StatementOut:
        """One statement, its entry's seq and time, its signatures and any disclosed details."""
        _check_id(statement_id, is_statement_id, "a statement id")
        e = service.ledger.statement_entry(statement_id)
        detail = service.ledger.detail(statement_id)
        return api.StatementOut(
            seq=e.seq,
            recorded_at=json.loads(e.leaf)["recorded_at"],
            leaf_hash=leaf_hash(e.leaf).hex(),
            statement=json.loads(e.envelope.payload),
            signatures=[api.SignatureOut(**s.to_json()) for s in e.envelope.signatures],
            details=detail.to_json() if detail else None,
        )

    @app.get(
        "/v1/checkpoint",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}}},
        tags=["proofs"],
    )
    def checkpoint(
        service: Reader, size: Annotated[int | None, Query(ge=1)] = None
    ) -> PlainTextResponse:
        """The signed checkpoint (C2SP signed note) of the latest tree, or of `size`."""
        return PlainTextResponse(service.ledger.checkpoint(size))

    @app.get("/v1/proofs/inclusion", response_model=api.InclusionProofOut, tags=["proofs"])
    def inclusion(
        service: Reader,
        seq: Annotated[int, Query(ge=0)],
        size: Annotated[int | None, Query(ge=1)] = None,
    ) -> api.InclusionProofOut:
        """Entry `seq`'s RFC 9162 inclusion proof in the tree of `size` (default: latest)."""
        proof, note = service.ledger.inclusion_proof(seq, size)
        leaf = leaf_hash(service.ledger.entry(seq).leaf)
        n = parse_checkpoint_body(parse_note(note).text).size
        return api.InclusionProofOut(
            index=seq,
            size=n,
            leaf_hash=b64(leaf),
            hashes=[b64(h) for h in proof],
            checkpoint=note,
            tlog_proof=format_tlog_proof(TlogProof(seq, tuple(proof), note)),
        )

    @app.get("/v1/proofs/consistency", response_model=api.ConsistencyProofOut, tags=["proofs"])
    def consistency(
        service: Reader,
        old: Annotated[int, Query(ge=1)],
        new: Annotated[int | None, Query(ge=1)] = None,
    ) -> api.ConsistencyProofOut:
        """The RFC 9162 consistency proof from tree size `old` to `new` (default: latest)."""
        n = service.ledger.size() if new is None else new
        proof = service.ledger.consistency_proof(old, n)
        return api.ConsistencyProofOut(old=old, new=n, hashes=[b64(h) for h in proof])

    @app.get("/v1/models", response_model=api.StatusDocument, tags=["state"])
    def models(
        service: Reader, as_of: Annotated[str | None, Query(description="RFC 3339")] = None
    ) -> JSONResponse:
        """Every model's state (the `rsp-ledger status` document): now (on an asserted ledger,
        at the last recorded time), or as the log stood at `as_of`."""
        return JSONResponse(service.status(None, _parse_time(as_of, "as_of")))

    @app.get(
        "/v1/models/{model}/state",
        response_model=api.StatusDocument,
        responses={404: {"model": api.ErrorResponse}},
        tags=["state"],
    )
    def model_state(
        model: str,
        service: Reader,
        as_of: Annotated[str | None, Query(description="RFC 3339")] = None,
    ) -> JSONResponse:
        """One model's state, now or as the log stood at `as_of`."""
        _check_id(model, is_ident, "a model id")
        return JSONResponse(service.status(model, _parse_time(as_of, "as_of")))

    @app.get(
        "/v1/models/{model}/timeline",
        response_model=api.TimelineDocument,
        responses={404: {"model": api.ErrorResponse}},
        tags=["state"],
    )
    def model_timeline(model: str, service: Reader) -> JSONResponse:
        """Every entry that changed the model's state, with the policy in force at each."""
        _check_id(model, is_ident, "a model id")
        return JSONResponse(service.projection.timeline(model))

    @app.post(
        "/v1/exports",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/zip": {}}, "headers": _EXPORT_HEADERS}},
        tags=["exports"],
    )
    def export(
        service: Reader,
        redact: bool = False,
        size: Annotated[int | None, Query(ge=1)] = None,
    ) -> StreamingResponse:
        """The signed export bundle of SPEC §6, streamed; `?redact=true` leaves out every detail."""
        folder = tempfile.TemporaryDirectory(prefix="rsp-export-")
        try:
            path = Path(folder.name) / "bundle.zip"
            result = export_bundle(service.ledger, path, redact=redact, size=size)
            stream = path.open("rb")
        except BaseException:
            folder.cleanup()
            raise
        m = result.manifest

        def chunks() -> Iterator[bytes]:
            try:
                while block := stream.read(1 << 16):
                    yield block
            finally:
                stream.close()
                folder.cleanup()

        name = f"{m.origin.replace('/', '_')}-{m.tree_size}.zip"
        return StreamingResponse(
            chunks(),
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(path.stat().st_size),
                "X-Bundle-Tree-Size": str(m.tree_size),
                "X-Bundle-Details-Committed": str(result.details_committed),
                "X-Bundle-Details-Written": str(result.details_written),
            },
        )

    @app.get("/v1/verdicts", response_model=api.VerdictsOut, tags=["compliance"])
    def verdicts(service: Reader) -> api.VerdictsOut:
        """Every verdict of SPEC §5 over the whole log, as the offline verifier gives them."""
        size = service.ledger.size()
        found = service.feed.verdicts(size)
        return api.VerdictsOut(
            size=size,
            verdicts=[api.VerdictOut.of(v) for v in found],
            summary=summary(found, size),
        )


# -- the worker entry point ---------------------------------------------------------------------
def read_token_file(path: str) -> str:
    """The read token: the file's text, stripped; refused when others may read it or it is empty."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
        text = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError as e:
        raise UsageError(f"--read-token-file {path}: expected a file, found none") from e
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--read-token-file {path}: cannot read it: {e}") from e
    if mode & 0o077:
        raise UsageError(
            f"--read-token-file {path}: readable by others (mode {stat.S_IMODE(mode):04o}); "
            "expected 0600: chmod 600 it"
        )
    if len(text) < 16 or any(c.isspace() for c in text):
        raise UsageError(
            f"--read-token-file {path}: expected one token of at least 16 characters, no spaces"
        )
    return text


def open_served_ledger(url: str, key_file: str) -> Ledger:
    """The ledger a worker serves, with its key; refused unless it is initialised."""
    try:
        signer = read_private_key(Path(key_file))
    except KeyFileError as e:
        raise KeyFileError(f"ledger key: {e}") from e
    ledger = Ledger(url, signer=signer)
    ledger.vkey  # noqa: B018 - raises LedgerStateError unless the ledger is initialised
    return ledger


def app_from_environment() -> FastAPI:
    """uvicorn's factory for each worker process (`serve` sets the environment)."""
    url = os.environ[ENV_LEDGER]
    token_file = os.environ.get(ENV_TOKEN_FILE)
    ledger = open_served_ledger(url, os.environ[ENV_KEY_FILE])
    return create_app(
        ledger,
        read_token=read_token_file(token_file) if token_file else None,
        max_body_bytes=int(os.environ.get(ENV_MAX_BODY, api.DEFAULT_MAX_BODY_BYTES)),
    )
