"""HTTP plumbing of the service: errors as JSON bodies with the right status, and the body limit.

Invariants:
- every error the project raises on purpose maps to one status and `ErrorBody.code` (`_STATUS`,
  most specific first), so the client can map it back to the same error type;
- a malformed request (bad JSON, wrong fields, bad parameters) is a 400, an unknown route a 404;
- anything else is a 500 that is logged with its traceback and says nothing more;
- a body over the limit is refused with a 413 before the application sees any of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import LedgerError, RspLedgerError, VerificationError
from ledger import api
from ledger.db import DatabaseUnavailableError
from ledger.errors import (
    EnvelopeRefusedError,
    KeyFileError,
    LedgerStateError,
    NotFoundError,
    StatementConflictError,
    TimeError,
    UsageError,
)
from ledger.tree import ProofRequestError
from projections import ProjectionError, TrackingConflictError

log = logging.getLogger("rsp_ledger.service")


class ReadTokenError(LedgerError):
    """A read without the configured bearer token, or with a wrong one."""


# Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[Exception], int, api.ErrorCode], ...] = (
    (ReadTokenError, 401, "unauthorized"),
    (TrackingConflictError, 503, "unavailable"),
    (ProjectionError, 404, "not-found"),
    (StatementConflictError, 409, "conflict"),
    (EnvelopeRefusedError, 422, "refused"),
    (TimeError, 422, "time"),
    (NotFoundError, 404, "not-found"),
    (ProofRequestError, 400, "proof"),
    (UsageError, 400, "usage"),
    (DatabaseUnavailableError, 503, "unavailable"),
    # The service's own ledger key will not load, or was rotated away (`ledger-key rotate`):
    # nothing can be signed until serve restarts with the current key.
    (KeyFileError, 503, "unavailable"),
    (LedgerStateError, 409, "state"),
    (LedgerError, 422, "refused"),
    (VerificationError, 422, "refused"),  # a malformed envelope, statement or detail
)


def _status_of(exc: Exception) -> tuple[int, api.ErrorCode]:
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal"


def error_response(
    status: int,
    code: api.ErrorCode,
    message: str,
    *,
    check: str | None = None,
    line: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = api.ErrorResponse(
        error=api.ErrorBody(status=status, code=code, message=message, check=check, line=line)
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RspLedgerError)
    async def project_error(_request: Request, exc: Exception) -> JSONResponse:
        status, code = _status_of(exc)
        if status >= 500:
            log.error("request failed: %s", exc, exc_info=exc)
        headers = {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="rsp-ledger"'
        if status == 503:
            headers["Retry-After"] = "1"
        message = str(exc) if status < 500 or code == "unavailable" else "internal error"
        return error_response(
            status,
            code,
            message,
            check=getattr(exc, "check", None),
            line=getattr(exc, "line", None),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, "malformed", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code: api.ErrorCode = "not-found" if exc.status_code == 404 else "malformed"
        status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return error_response(status, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        log.error("request failed", exc_info=exc)
        return error_response(500, "internal", "internal error; the service logged it")


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors()[:3]:
        if err.get("type") == "json_invalid":
            return "malformed request: expected a JSON body, found invalid JSON"
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return "malformed request: " + "; ".join(problems)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with a 413: by Content-Length before reading anything, and
    otherwise (chunked) by counting as the body streams in, before the app sees any of it. A
    body within the limit is handed on whole (the endpoints read it whole anyway)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await error_response(400, "malformed", "invalid Content-Length")(
                        scope, receive, send
                    )
                    return
                if declared > limit:
                    await self._too_large(f"{declared} bytes", scope, receive, send)
                    return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await self._too_large("more", scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], None, receive), send)

    async def _too_large(self, found: str, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body: expected at most {self.max_bytes} bytes, found {found}"
        await error_response(413, "too-large", message)(scope, receive, send)


def _replay(messages: list[Message], last: Message | None, receive: Receive) -> Receive:
    """A `receive` that gives `messages`, then `last` if any, then defers to `receive`."""
    queue = [*messages, *([last] if last is not None else [])]

    async def replayed() -> Message:
        return queue.pop(0) if queue else await receive()

    return replayed
