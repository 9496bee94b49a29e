"""Where the ledger and its key live (SPEC §9).

- The ledger: `--ledger URL`, else `$RSP_LEDGER`, else `sqlite:///rsp-ledger.db`.
- The ledger key: `--ledger-key-file`, else `$RSP_LEDGER_KEY_FILE`, else, for a SQLite ledger,
  the database file's path plus `.key`.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_LEDGER_URL = "sqlite:///rsp-ledger.db"


def resolve_ledger_url(option: str | None) -> str:
    return option or os.environ.get("RSP_LEDGER") or DEFAULT_LEDGER_URL


def is_http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def sqlite_path(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def resolve_key_file(option: str | None, url: str) -> Path | None:
    if option:
        return Path(option)
    env = os.environ.get("RSP_LEDGER_KEY_FILE")
    if env:
        return Path(env)
    db = sqlite_path(url)
    return Path(f"{db}.key") if db is not None else None
