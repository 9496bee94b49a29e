"""Identifiers, digests and times of SPEC §1.

Invariants:
- every time this module returns is an aware `datetime` in UTC;
- `format_time` is the one way the project writes a time, and `parse_time(format_time(t)) == t`;
- times are compared as instants, never as strings (SPEC §1).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BeforeValidator, StringConstraints

from domain.errors import VerificationError

IDENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
STATEMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
KEY_ID_PATTERN = r"^[0-9a-f]{64}$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
# A C2SP log origin doubles as a signed-note key name: non-empty, no spaces, no '+'.
ORIGIN_PATTERN = r"^[!-*,-~]{1,255}$"

_TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$")
_IDENT_RE = re.compile(IDENT_PATTERN)
_STATEMENT_ID_RE = re.compile(STATEMENT_ID_PATTERN)


class TimeFormatError(VerificationError, ValueError):
    """A time is not RFC 3339 UTC with a `Z` suffix and at most microsecond precision.

    Also a `ValueError`, so that pydantic validators report it as a field error."""


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 UTC time with a `Z` suffix (SPEC §1) into an aware datetime."""
    if not isinstance(text, str):
        raise TimeFormatError(f"expected an RFC 3339 time string, found {type(text).__name__}")
    m = _TIME_RE.match(text)
    if m is None or text.endswith("\n"):
        raise TimeFormatError(
            f"expected an RFC 3339 UTC time like 2025-05-14T00:00:00Z, found {text[:60]!r}"
        )
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = m.group(7) or ""
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError as e:
        raise TimeFormatError(f"expected a real calendar time, found {text!r}: {e}") from e


def format_time(t: datetime) -> str:
    """The canonical text of a time: seconds, plus microseconds only when there are any."""
    if t.tzinfo is None:
        raise TimeFormatError("expected an aware datetime in UTC, found a naive one")
    t = t.astimezone(UTC)
    base = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if t.microsecond:
        base += "." + f"{t.microsecond:06d}".rstrip("0")
    return base + "Z"


def is_ident(text: str) -> bool:
    return isinstance(text, str) and _IDENT_RE.match(text) is not None and "\n" not in text


def is_statement_id(text: str) -> bool:
    return isinstance(text, str) and _STATEMENT_ID_RE.match(text) is not None and "\n" not in text


def _time_before(value: object) -> object:
    if isinstance(value, str):
        return parse_time(value)
    return value  # strict mode then rejects anything that is not already a datetime


Ident = Annotated[str, StringConstraints(pattern=IDENT_PATTERN)]
StatementId = Annotated[str, StringConstraints(pattern=STATEMENT_ID_PATTERN)]
KeyId = Annotated[str, StringConstraints(pattern=KEY_ID_PATTERN)]
Digest = Annotated[str, StringConstraints(pattern=DIGEST_PATTERN)]
Origin = Annotated[str, StringConstraints(pattern=ORIGIN_PATTERN)]
Timestamp = Annotated[datetime, BeforeValidator(_time_before)]
