"""The witness over HTTP: c2sp.org/tlog-witness `POST /add-checkpoint` (a Starlette app that
`rsp-ledger witness serve` runs on uvicorn).

Statuses, as tlog-witness assigns them:
- 200 with the cosignature line (`text/plain`);
- 400 for a malformed body or an old size above the checkpoint's size;
- 403 when no signature verifies against the log's key; 404 for a log the witness does not follow;
- 409 with the latest cosigned size (`text/x.tlog.size`, `N\\n`) when the old size is stale;
  409 with a plain-text reason for a split view (same size, different root), so that a client
  reading the size does not loop;
- 422 when the consistency proof does not verify;
- 413 for a body over the limit, 503 when the log's lock is not had in time (retry).

The blocking work (flock, fsync, signing) runs in a worker thread; the lock file serialises
requests for one log across threads and processes (ledger/witness.py).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from domain.errors import VerificationError
from ledger.witness import Witness, WitnessBusyError, WitnessStateError
from verify.note import MAX_NOTE_BYTES
from verify.witness import (
    MAX_PROOF_LINES,
    SIZE_CONTENT_TYPE,
    StaleOldSizeError,
    WitnessRefusalError,
    parse_add_checkpoint,
)

# The note, plus `old <size>` and 63 proof lines of 44 base64 characters.
MAX_REQUEST_BYTES = MAX_NOTE_BYTES + 32 + MAX_PROOF_LINES * 45


def _text(status: int, message: str) -> Response:
    return PlainTextResponse(message.rstrip("\n") + "\n", status_code=status)


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(witness: Witness, *, max_body_bytes: int = MAX_REQUEST_BYTES) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        body = await _read_body(request, max_body_bytes)
        if body is None:
            return _text(413, f"request body: expected at most {max_body_bytes} bytes")
        try:
            parsed = parse_add_checkpoint(body)
            cosigned = await run_in_threadpool(witness.add_checkpoint, parsed)
        except StaleOldSizeError as e:
            # Exactly `text/x.tlog.size`, no charset parameter: clients compare it as a string.
            return Response(
                f"{e.known_size}\n".encode(),
                status_code=409,
                headers={"Content-Type": SIZE_CONTENT_TYPE},
            )
        except WitnessRefusalError as e:
            return _text(e.status, str(e))
        except VerificationError as e:  # anything else about the request's bytes
            return _text(400, str(e))
        except WitnessBusyError as e:
            return _text(503, str(e))
        except WitnessStateError as e:
            return _text(500, f"witness state: {e}")
        return PlainTextResponse(cosigned.line, status_code=200)

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])


__all__ = ["MAX_REQUEST_BYTES", "create_app"]
