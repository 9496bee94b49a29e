"""What every command shares: error mapping, output, reading input files, opening the ledger.

Exit codes (SPEC §9): 0 ok, 1 refused, 2 usage error. A user error is one line on stderr that
says what was expected and what was found, never a traceback.

The store, the HTTP client and SQLAlchemy are imported when a command opens a ledger, not when
this module is: a command that needs none of them starts without paying for them.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click

from domain.errors import LedgerError, VerificationError
from domain.ids import TimeFormatError, parse_time
from ledger.errors import KeyFileError, UsageError

if TYPE_CHECKING:
    from ledger.access import LedgerAccess

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Map the project's errors to one-line messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (UsageError, TimeFormatError) as e:
            fail(str(e), EXIT_USAGE)
        except (LedgerError, VerificationError) as e:
            fail(str(e), EXIT_REFUSED)
        except Exception as e:
            # The database itself failed (gone, locked too long, out of space): one line. Only a
            # command that opened a database can raise SQLAlchemy's errors, and it imported them.
            sa_exc = sys.modules.get("sqlalchemy.exc")
            if sa_exc is None or not isinstance(e, sa_exc.DBAPIError):
                raise
            reason = str(e.orig).strip().splitlines()[0] if e.orig is not None else str(e)
            fail(f"database error: {reason}", EXIT_REFUSED)

    return wrapper


def read_input(path: str) -> bytes:
    """Bytes of a file, or of stdin for '-'; a missing file is a usage error."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        fail(f"{path}: expected a file, found none", EXIT_USAGE)
    except IsADirectoryError:
        fail(f"{path}: expected a file, found a directory", EXIT_USAGE)
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror}", EXIT_USAGE)


def parse_time_option(value: str | None, name: str = "--recorded-at") -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except TimeFormatError as e:
        fail(f"{name}: {e}", EXIT_USAGE)


def emit(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        human()


def ledger_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--ledger",
        "ledger_url",
        metavar="URL",
        default=None,
        help="SQLAlchemy URL of the ledger (default $RSP_LEDGER, else sqlite:///rsp-ledger.db).",
    )(fn)


def key_file_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--ledger-key-file",
        metavar="PATH",
        default=None,
        help="The ledger's private key (default $RSP_LEDGER_KEY_FILE, else DB path + .key).",
    )(fn)


def json_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)


def open_ledger(
    ledger_url: str | None,
    key_file: str | None = None,
    *,
    need_key: bool = False,
    want_key: bool = False,
) -> LedgerAccess:
    """Open the ledger; with `need_key` the ledger key must load, with `want_key` it is loaded
    when its file exists (to sign a checkpoint for a past size on demand). An http(s):// URL is
    a ledger service: it signs with its own key, and reads use $RSP_LEDGER_TOKEN."""
    from ledger.config import is_http, resolve_key_file, resolve_ledger_url

    url = resolve_ledger_url(ledger_url)
    if is_http(url):
        from ledger.client import RemoteLedger

        return RemoteLedger(url)
    signer = None
    if want_key and not need_key:
        path = resolve_key_file(key_file, url)
        need_key = path is not None and path.exists()
    if need_key:
        path = resolve_key_file(key_file, url)
        if path is None:
            raise UsageError(
                "expected the ledger key: give --ledger-key-file or set $RSP_LEDGER_KEY_FILE"
            )
        from ledger.keyfile import read_private_key

        try:
            signer = read_private_key(path)
        except KeyFileError as e:
            raise KeyFileError(f"ledger key: {e}") from e
    from ledger.store import Ledger

    return Ledger(url, signer=signer)
