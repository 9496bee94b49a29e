"""`RemoteLedger`: a ledger service (ledger/service.py) behind the same methods as `Ledger`, so that
every command taking `--ledger` works unchanged against `http(s)://…`.

Invariants:
- what the service sends is parsed at the boundary (`ledger.api` models, `verify/` parsers);
  entries arrive as their exact JCS bytes and are parsed as the store parses its own;
- the service's errors come back as the ledger's own error types (`ErrorBody.code`), so the CLI
  prints the same one-line message and exits with the same code as against a database;
- a submit that fails in transit, or that the service answers 503, is sent again, at most
  `SUBMIT_ATTEMPTS` times in all: resubmitting the same envelope is a no-op (SPEC §2), so a retry
  never records a duplicate — it returns the entry the first attempt recorded;
- the read token comes from `$RSP_LEDGER_TOKEN` and is sent only as a bearer header.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from domain.compliance import Verdict
from domain.errors import LedgerError, VerificationError
from domain.ids import TimeFormatError, format_time, parse_time
from ledger import api
from ledger.db import DatabaseUnavailableError
from ledger.errors import (
    EnvelopeRefusedError,
    LedgerStateError,
    NotFoundError,
    StatementConflictError,
    TimeError,
    UsageError,
)
from ledger.export import ExportResult
from ledger.store import RecordedEntry, Submission
from ledger.tree import ProofRequestError
from verify.bundle import BundleReader, Manifest, parse_manifest
from verify.details import Detail, DetailError, parse_detail
from verify.dsse import Envelope
from verify.entry import Entry, MalformedEntryError, parse_entry
from verify.note import parse_checkpoint_body, parse_note

TOKEN_ENV = "RSP_LEDGER_TOKEN"
TIMEOUT_S = 60.0
SUBMIT_ATTEMPTS = 5
RETRY_BACKOFF_S = 0.2
PAGE = api.MAX_PAGE_ENTRIES

M = TypeVar("M", bound=BaseModel)


class ServiceError(LedgerStateError):
    """The service cannot be reached, or answered something that is not this API."""


class ServiceAccessError(LedgerError):
    """The service wants the read token, or refused the one given."""


def _error_for(body: api.ErrorBody) -> LedgerError:
    message = body.message
    match body.code:
        case "usage" | "malformed" | "too-large":
            return UsageError(message)
        case "conflict":
            return StatementConflictError(message, check=body.check or "acceptance.unique_id")
        case "refused":
            return EnvelopeRefusedError(message, check=body.check or "acceptance", line=body.line)
        case "time":
            return TimeError(message)
        case "not-found":
            return NotFoundError(message)
        case "proof":
            return ProofRequestError(message)
        case "unauthorized":
            return ServiceAccessError(message)
        case "unavailable":
            return DatabaseUnavailableError(message)
        case _:
            return LedgerStateError(message)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ServiceError(f"{what}: expected base64 from the service, found {text[:40]!r}") from e


class RemoteLedger:
    """A ledger served over HTTP, with the methods the commands use."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        self._identity: api.LedgerKeyOut | None = None
        # Verdicts the service gave for entries this client recorded, by statement id.
        self._verdicts: dict[str, Verdict] = {}

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def display_url(self) -> str:
        return self.url

    # -- transport --------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise ServiceError(f"cannot reach the ledger service at {self.url}: {e}") from e
        if response.is_success:
            return response
        self._raise(response)

    def _raise(self, response: httpx.Response) -> NoReturn:
        try:
            body = api.ErrorResponse.model_validate_json(response.content).error
        except ValidationError:
            raise ServiceError(
                f"{self.url} answered {response.status_code} without an rsp-ledger error: "
                f"{response.text[:200]!r}"
            ) from None
        raise _error_for(body)

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        return self._parse(self._request("GET", path, params=_params(params)), model)

    def _parse(self, response: httpx.Response, model: type[M]) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as e:
            raise ServiceError(
                f"{self.url}: expected a {model.__name__} from the service, found: "
                f"{e.errors()[0].get('msg', 'something else')}"
            ) from e

    # -- identity ---------------------------------------------------------------------------
    def _ledger_identity(self) -> api.LedgerKeyOut:
        if self._identity is None:
            self._identity = self._get("/v1/ledger-key", api.LedgerKeyOut)
        return self._identity

    @property
    def vkey(self) -> str:
        return self._ledger_identity().vkey

    @property
    def origin(self) -> str:
        return self._ledger_identity().origin

    @property
    def time_source(self) -> str:
        return self._ledger_identity().time_source

    # -- writing ----------------------------------------------------------------------------
    def submit(
        self,
        envelope: Envelope,
        *,
        detail: Detail | None = None,
        recorded_at: datetime | None = None,
    ) -> RecordedEntry:
        body = {
            "envelope": envelope.to_json(),
            "details": detail.to_json() if detail is not None else None,
            "recorded_at": format_time(recorded_at) if recorded_at is not None else None,
        }
        answer = self._parse(self._submit_with_retries("/v1/entries", body), api.SubmitResponse)
        if answer.compliance is not None:
            self._verdicts[answer.entry.statement] = answer.compliance.to_verdict()
        return _recorded(answer.entry)

    def submit_batch(
        self,
        submissions: Sequence[Submission],
        *,
        recorded_at: datetime | None = None,
        workers: int | None = None,
    ) -> list[RecordedEntry]:
        """All of them, in order, in one transaction on the service, or none."""
        del workers  # the service checks signatures with its own cores
        if len(submissions) == 1:
            s = submissions[0]
            return [self.submit(s.envelope, detail=s.detail, recorded_at=recorded_at)]
        if len(submissions) > api.MAX_BATCH_ENTRIES:
            # A batch is atomic, so it is never split into several requests behind one's back.
            raise UsageError(
                f"a batch over HTTP holds at most {api.MAX_BATCH_ENTRIES} envelopes, "
                f"found {len(submissions)}: split the file"
            )
        body = {
            "entries": [
                {
                    "envelope": s.envelope.to_json(),
                    "details": s.detail.to_json() if s.detail is not None else None,
                }
                for s in submissions
            ],
            "recorded_at": format_time(recorded_at) if recorded_at is not None else None,
        }
        answer = self._parse(self._submit_with_retries("/v1/batches", body), api.BatchResponse)
        self._verdicts.update((v.statement, v.to_verdict()) for v in answer.verdicts)
        return [_recorded(e) for e in answer.entries]

    def verdicts_of_new(self, recorded: Iterable[RecordedEntry]) -> list[Verdict]:
        """The verdicts the service gave, as it recorded them, to the judged statements among
        `recorded` (SPEC §2's warning), without reading the log back."""
        fresh = sorted((r for r in recorded if not r.existing), key=lambda r: r.seq)
        return [self._verdicts[r.statement_id] for r in fresh if r.statement_id in self._verdicts]

    def _submit_with_retries(self, path: str, body: dict[str, Any]) -> httpx.Response:
        for attempt in range(SUBMIT_ATTEMPTS):
            last = attempt == SUBMIT_ATTEMPTS - 1
            try:
                response = self._http.post(path, json=body)
            except httpx.TransportError as e:
                if last:
                    raise ServiceError(
                        f"cannot reach the ledger service at {self.url} "
                        f"after {SUBMIT_ATTEMPTS} attempts: {e}"
                    ) from e
            else:
                if response.is_success:
                    return response
                if response.status_code != 503 or last:
                    self._raise(response)
            time.sleep(RETRY_BACKOFF_S * (2**attempt))
        raise AssertionError("unreachable")

    # -- reading ----------------------------------------------------------------------------
    def size(self) -> int:
        page = self._request("GET", "/v1/entries", params={"from": 0, "limit": 0})
        try:
            return int(page.headers["X-Ledger-Size"])
        except (KeyError, ValueError) as e:
            raise ServiceError(f"{self.url}: expected an X-Ledger-Size header") from e

    def entry(self, seq: int) -> Entry:
        return self._parse_entry(seq, self._request("GET", f"/v1/entries/{seq}").content)

    def raw_entries(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Exact leaf bytes of entries [start, stop), page by page."""
        end = self.size() if stop is None else stop
        seq = start
        while seq < end:
            response = self._request(
                "GET",
                "/v1/entries",
                params={"from": seq, "limit": min(PAGE, end - seq)},
                headers={"Accept": "application/x-ndjson"},
            )
            lines = response.content.splitlines()
            if not lines:
                raise ServiceError(f"{self.url}: entry {seq} is missing below {end}")
            for line in lines:
                yield line
                seq += 1
                if seq >= end:
                    break

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        for offset, leaf in enumerate(self.raw_entries(start, stop)):
            yield self._parse_entry(start + offset, leaf)

    def _parse_entry(self, seq: int, leaf: bytes) -> Entry:
        try:
            entry = parse_entry(leaf)
        except MalformedEntryError as e:
            raise ServiceError(f"{self.url}: entry {seq} is not an entry: {e}") from e
        if entry.seq != seq:
            raise ServiceError(f"{self.url}: asked for entry {seq}, received entry {entry.seq}")
        return entry

    def _statement(self, statement_id: str) -> api.StatementOut:
        path = f"/v1/statements/{_segment(statement_id)}"
        return self._get(path, api.StatementOut)

    def statement_entry(self, statement_id: str) -> Entry:
        entry = self.entry(self._statement(statement_id).seq)
        if entry.envelope.statement.id != statement_id:
            raise ServiceError(
                f"{self.url}: asked for statement {statement_id!r}, "
                f"received {entry.envelope.statement.id!r}"
            )
        return entry

    def detail(self, statement_id: str) -> Detail | None:
        found = self._statement(statement_id).details
        if found is None:
            return None
        try:
            return parse_detail(found)
        except DetailError as e:
            raise ServiceError(f"{self.url}: details of {statement_id!r}: {e}") from e

    # -- checkpoints and proofs -------------------------------------------------------------
    def checkpoint(self, size: int | None = None) -> str:
        return self._request("GET", "/v1/checkpoint", params=_params({"size": size})).text

    def signed_root(self, size: int) -> bytes:
        """The root of the service's signed checkpoint at `size`."""
        try:
            return parse_checkpoint_body(parse_note(self.checkpoint(size)).text).root
        except VerificationError as e:
            raise ServiceError(f"{self.url}: checkpoint at size {size}: {e}") from e

    def inclusion_proof(self, seq: int, size: int | None = None) -> tuple[list[bytes], str]:
        proof = self._get("/v1/proofs/inclusion", api.InclusionProofOut, seq=seq, size=size)
        return [_b64(h, "inclusion proof") for h in proof.hashes], proof.checkpoint

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        proof = self._get("/v1/proofs/consistency", api.ConsistencyProofOut, old=old, new=new)
        return [_b64(h, "consistency proof") for h in proof.hashes]

    def verdicts(self) -> api.VerdictsOut:
        return self._get("/v1/verdicts", api.VerdictsOut)

    # -- state (issue 5) --------------------------------------------------------------------
    def status(self, model: str | None = None, as_of: datetime | None = None) -> dict[str, Any]:
        """The status document, as `rsp-ledger status` prints it against the database."""
        params = {"as_of": format_time(as_of) if as_of is not None else None}
        path = "/v1/models" if model is None else f"/v1/models/{_segment(model)}/state"
        return self._get(path, api.StatusDocument, **params).model_dump()

    def timeline(self, model: str) -> dict[str, Any]:
        path = f"/v1/models/{_segment(model)}/timeline"
        return self._get(path, api.TimelineDocument).model_dump()

    # -- exports ----------------------------------------------------------------------------
    def export(
        self, out_path: str | os.PathLike[str], *, redact: bool = False, size: int | None = None
    ) -> ExportResult:
        """The service's signed bundle (SPEC §6), written to `out_path` atomically: into a
        temporary file beside it, flushed to disk, then renamed into place."""
        out = Path(out_path)
        folder = out.parent if str(out.parent) else Path(".")
        params = _params({"redact": "true" if redact else "false", "size": size})
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                try:
                    with self._http.stream("POST", "/v1/exports", params=params) as response:
                        if not response.is_success:
                            response.read()
                            self._raise(response)
                        for block in response.iter_bytes():
                            f.write(block)
                        headers = response.headers
                except httpx.TransportError as e:
                    raise ServiceError(f"export from {self.url} failed in transit: {e}") from e
                f.flush()
                os.fsync(f.fileno())
            manifest = _manifest_of(tmp)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            committed = int(headers["X-Bundle-Details-Committed"])
            written = int(headers["X-Bundle-Details-Written"])
        except (KeyError, ValueError) as e:
            raise ServiceError(f"{self.url}: expected X-Bundle-Details-* headers") from e
        return ExportResult(manifest, out, committed, written)


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _manifest_of(path: Path) -> Manifest:
    try:
        with BundleReader(path) as bundle:
            return parse_manifest(bundle.read("manifest.json"))
    except VerificationError as e:
        raise ServiceError(f"the service sent a bundle that cannot be read: {e}") from e


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _recorded(e: api.RecordedEntryOut) -> RecordedEntry:
    try:
        leaf = bytes.fromhex(e.leaf_hash)
        recorded_at = parse_time(e.recorded_at)
    except (ValueError, TimeFormatError) as err:
        raise ServiceError(f"entry {e.seq} from the service: {err}") from err
    return RecordedEntry(e.seq, recorded_at, leaf, e.statement, e.type, e.existing)
